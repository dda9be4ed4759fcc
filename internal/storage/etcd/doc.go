// Package etcd implements storage.Interface on etcd.
//
// Store is the main type: New(client, prefix) keeps every key under prefix
// and hands keys back without it. Every write is one etcd transaction
// (compare-and-swap on the key's create or mod revision), a list page is
// one range request, and a key's resourceVersion is its etcd mod revision.
// Watches are etcd watches with previous values (so deletions carry the
// last value) and progress notifications (storage.Progress events).
// translate, in errors.go, is the single place etcd errors become storage
// errors. NewClient connects to an external etcd; embedded etcd hands out
// its own in-process client (package embedetcd).
//
// Concurrency: Store has no mutable state; all methods are safe for
// concurrent use. Each Watch runs one goroutine that ends with the watch's
// context; its Events channel is closed after Err is set.
package etcd
