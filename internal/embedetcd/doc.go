// Package embedetcd runs an etcd member inside the Gantry process.
//
// Etcd is the main type: New builds it from a Config without I/O, Start
// brings the member up and returns an in-process client (no TCP round
// trip, no serialisation), Close stops it. By default no client port is
// opened and the peer listener binds an ephemeral loopback port, so several
// members can run in one test process; etcd's log lines are routed to a
// *slog.Logger at warn level and above.
//
// Concurrency: all methods are safe for concurrent use; Start may be called
// once, Close any number of times (a Close during Start waits for Start,
// which is bounded by its context). The client returned by Start is safe for
// concurrent use and is closed by Close.
//
//	e := embedetcd.New(embedetcd.Config{DataDir: dir}, log)
//	defer e.Close()
//	client, err := e.Start(ctx)
package embedetcd
