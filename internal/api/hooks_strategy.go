package api

// attachStrategy sets r.Default, r.Validate and r.ValidateUpdate.
func attachStrategy(r *Resource) {}
