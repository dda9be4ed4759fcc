package apiserver

// SetNameSuffix replaces the random suffix of generated names until the
// returned function restores it (tests of name collisions).
func SetNameSuffix(f func() string) (restore func()) {
	orig := nameSuffix
	nameSuffix = f
	return func() { nameSuffix = orig }
}
