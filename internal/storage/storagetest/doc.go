// Package storagetest is the conformance suite every storage.Interface
// implementation passes, so that implementations cannot drift apart.
//
// Run is the entry point: it runs each case as a subtest against a store
// from newStore. Cases write under their own key prefix (the subtest name),
// so newStore may hand out stores sharing one backend; the cases of one Run
// do not run in parallel. Compaction cases need the optional Compactor
// capability and are skipped without it.
//
//	func TestStore(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Interface { return newStore(t) })
//	}
//
// The suite never sleeps to synchronise: it waits on channels and polls
// with deadlines.
package storagetest
