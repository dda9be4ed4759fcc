package api

// attach fills r's strategy hooks (defaulting, validation, field selectors,
// tables) from the per-group tables in this package.
func attach(r *Resource) {
	// Hooks are attached by the defaulting, validation, fields and table
	// files of this package as they are written; a nil hook means "none".
	_ = r
}
