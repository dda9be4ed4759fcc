package api

// attachPresentation sets r.Fields and r.Table.
func attachPresentation(r *Resource) {}
