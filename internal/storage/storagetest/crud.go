package storagetest

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/gantry-dev/gantry/internal/storage"
)

func testCreateGet(t *testing.T, s storage.Interface) {
	base := ns(t)
	ctx := ctxFor(t)

	r1 := create(t, s, base+"a", "v1")
	if r1 <= 0 {
		t.Fatalf("Create returned revision %d, want > 0", r1)
	}
	wantKV(t, s, base+"a", "v1", r1)

	r2 := create(t, s, base+"b", "")
	if r2 <= r1 {
		t.Fatalf("second Create revision %d, want > %d", r2, r1)
	}
	wantKV(t, s, base+"b", "", r2)

	_, err := s.Create(ctx, base+"a", []byte("v2"))
	wantErr(t, "Create of an existing key", err, storage.ErrExists)
	wantKV(t, s, base+"a", "v1", r1)

	wantMissing(t, s, base+"missing")
	// A key is not a prefix: "a" does not find "a/child" or vice versa.
	create(t, s, base+"c/child", "x")
	wantMissing(t, s, base+"c")

	if cur := currentRevision(t, s); cur < r2 {
		t.Fatalf("CurrentRevision = %d, want >= %d", cur, r2)
	}
}

// testCreateRace: of concurrent creates of one key, exactly one wins.
func testCreateRace(t *testing.T, s storage.Interface) {
	key := ns(t) + "contended"
	const n = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []int
	)
	for i := range n {
		wg.Go(func() {
			_, err := s.Create(ctxFor(t), key, []byte(strconv.Itoa(i)))
			switch {
			case err == nil:
				mu.Lock()
				winners = append(winners, i)
				mu.Unlock()
			case !errors.Is(err, storage.ErrExists):
				t.Errorf("Create %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d creates succeeded (%v), want exactly 1", len(winners), winners)
	}
	wantKV(t, s, key, strconv.Itoa(winners[0]), 0)
}

func testUpdate(t *testing.T, s storage.Interface) {
	base := ns(t)
	tests := []struct {
		name string
		// exists creates the key; changed updates it once more after the
		// revision given to Update was read.
		exists, changed bool
		// expected returns the revision passed to Update, given the
		// key's revision when read.
		expected func(read int64) int64
		wantErr  error
	}{
		{name: "current revision", exists: true, expected: same},
		{name: "stale revision", exists: true, changed: true, expected: same, wantErr: storage.ErrConflict},
		{name: "future revision", exists: true, expected: func(r int64) int64 { return r + 1000 }, wantErr: storage.ErrConflict},
		{name: "zero revision of existing key", exists: true, expected: zero, wantErr: storage.ErrConflict},
		{name: "missing key", expected: func(int64) int64 { return 1 }, wantErr: storage.ErrNotFound},
		{name: "zero revision of missing key", expected: zero, wantErr: storage.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := base + tt.name
			var read int64
			before := ""
			if tt.exists {
				read = create(t, s, key, "old")
				before = "old"
			}
			last := read
			if tt.changed {
				last = update(t, s, key, "changed", read)
				before = "changed"
			}
			rev, err := s.Update(ctxFor(t), key, []byte("new"), tt.expected(read))
			if tt.wantErr != nil {
				wantErr(t, "Update", err, tt.wantErr)
				if tt.exists {
					wantKV(t, s, key, before, last)
				} else {
					wantMissing(t, s, key) // never created by a failed update
				}
				return
			}
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			if rev <= read {
				t.Fatalf("Update returned revision %d, want > %d", rev, read)
			}
			wantKV(t, s, key, "new", rev)
		})
	}
}

func same(r int64) int64 { return r }
func zero(int64) int64   { return 0 }

// testUpdateRace: read-modify-write loops retrying on ErrConflict lose no
// increment.
func testUpdateRace(t *testing.T, s storage.Interface) {
	key := ns(t) + "counter"
	create(t, s, key, "0")
	const workers, increments = 4, 10
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for done := 0; done < increments; {
				kv, err := s.Get(ctxFor(t), key)
				if err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				n, _ := strconv.Atoi(string(kv.Value))
				_, err = s.Update(ctxFor(t), key, []byte(strconv.Itoa(n+1)), kv.Revision)
				switch {
				case err == nil:
					done++
				case !errors.Is(err, storage.ErrConflict):
					t.Errorf("Update: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	wantKV(t, s, key, fmt.Sprint(workers*increments), 0)
}

func testDelete(t *testing.T, s storage.Interface) {
	base := ns(t)
	tests := []struct {
		name            string
		exists, changed bool
		// expected returns the revision passed to Delete given the
		// key's revision when read.
		expected func(read int64) int64
		wantErr  error
	}{
		{name: "unconditional", exists: true, expected: zero},
		{name: "unconditional after update", exists: true, changed: true, expected: zero},
		{name: "current revision", exists: true, expected: same},
		{name: "stale revision", exists: true, changed: true, expected: same, wantErr: storage.ErrConflict},
		{name: "missing key unconditional", expected: zero, wantErr: storage.ErrNotFound},
		{name: "missing key with revision", expected: func(int64) int64 { return 1 }, wantErr: storage.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := base + tt.name
			var read, last int64
			value := ""
			if tt.exists {
				read = create(t, s, key, "first")
				last, value = read, "first"
			}
			if tt.changed {
				last, value = update(t, s, key, "last", read), "last"
			}
			got, err := s.Delete(ctxFor(t), key, tt.expected(read))
			if tt.wantErr != nil {
				wantErr(t, "Delete", err, tt.wantErr)
				if tt.exists {
					wantKV(t, s, key, value, last)
				}
				return
			}
			if err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if got.Key != key || string(got.Value) != value || got.Revision <= last {
				t.Fatalf("Delete = %s, want the last value %q at a revision after %d", fmtKV(got), value, last)
			}
			if cur := currentRevision(t, s); cur < got.Revision {
				t.Fatalf("CurrentRevision %d is before the deletion's revision %d", cur, got.Revision)
			}
			wantMissing(t, s, key)
			_, err = s.Delete(ctxFor(t), key, 0)
			wantErr(t, "second Delete", err, storage.ErrNotFound)
			// The key can be created again.
			create(t, s, key, "again")
		})
	}
}

// testGetLocal: a store offering local reads (storage.LocalReader) sees its
// own acknowledged writes through them, and reports missing keys.
func testGetLocal(t *testing.T, s storage.Interface) {
	lr, ok := s.(storage.LocalReader)
	if !ok {
		t.Skip("the store has no local reads")
	}
	base := ns(t)
	ctx := ctxFor(t)
	r1 := create(t, s, base+"a", "v1")
	got, err := lr.GetLocal(ctx, base+"a")
	if err != nil || !sameKV(got, storage.KV{Key: base + "a", Value: []byte("v1"), Revision: r1}) {
		t.Fatalf("GetLocal after Create = %s, %v; want %q=%q at %d", fmtKV(got), err, base+"a", "v1", r1)
	}
	r2 := update(t, s, base+"a", "v2", r1)
	if got, err := lr.GetLocal(ctx, base+"a"); err != nil || string(got.Value) != "v2" || got.Revision != r2 {
		t.Fatalf("GetLocal after Update = %s, %v; want v2 at %d", fmtKV(got), err, r2)
	}
	del(t, s, base+"a")
	if got, err := lr.GetLocal(ctx, base+"a"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetLocal after Delete = %s, %v; want ErrNotFound", fmtKV(got), err)
	}
	if got, err := lr.GetLocal(ctx, base+"missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetLocal of a missing key = %s, %v; want ErrNotFound", fmtKV(got), err)
	}
}
