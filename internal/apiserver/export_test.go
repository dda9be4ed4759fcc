package apiserver

import "context"

// SetNameSuffix replaces the random suffix of generated names until the
// returned function restores it (tests of name collisions).
func SetNameSuffix(f func() string) (restore func()) {
	orig := nameSuffix
	nameSuffix = f
	return func() { nameSuffix = orig }
}

// CreateFieldsHits returns how many creates took their managed fields
// from the memo (createFields).
func (s *Server) CreateFieldsHits() uint64 {
	s.createFields.mu.Lock()
	defer s.createFields.mu.Unlock()
	return s.createFields.hits
}

// RepairServices runs one pass of the service allocation repair.
func (s *Server) RepairServices(ctx context.Context) error { return s.repairServices(ctx) }
