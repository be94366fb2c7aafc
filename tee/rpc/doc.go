// Package rpc carries fpemu's CA→TA protocol (docs/protocol.md §1) over
// Unix stream sockets: the TA host a TA process runs (Server) and the client
// an REE component uses (Client, Session), in the shape of the
// GlobalPlatform TEE Client API (GPD_SPE_007).
//
// TA side: a TA implements TA and TASession; NewServer wraps it and Serve
// accepts connections. The host applies the protocol's rules centrally —
// sessions per connection, one command at a time per session, concurrent
// sessions, the GP short-buffer rule, parameter-type integrity, error
// mapping to TEEC results and origins, a structured log line per command
// that never contains parameter contents, and graceful Shutdown.
//
// CA side: Dial returns a Client; responses are matched to requests by
// request id, so several sessions on one connection run concurrently.
// Session implements Invoker, the one-method transport TA client packages
// model their commands over (go-tpm style). When the TA process dies or the
// connection drops, every pending and later call fails promptly with an
// error matching tee.ErrTargetDead (TEEC_ORIGIN_COMMS).
//
// Speed: a cross-process round trip should cost little more than a raw
// socket echo (BenchmarkCrossProcess). So neither side hands a frame
// between goroutines on the common path: the host runs a command in the
// goroutine that read it (a watchdog moves reading to a new goroutine if
// the command runs long, see handoff.go), and a client caller reads its own
// response whenever no other caller is reading.
package rpc
