package api

// attach fills r's strategy hooks. Defaulting and validation live in the
// defaults_*.go and validation_*.go files; field selectors and tables in
// fields_*.go and table_*.go. A nil hook means "nothing to do".
func attach(r *Resource) {
	attachStrategy(r)
	attachPresentation(r)
}
