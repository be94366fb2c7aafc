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
// CA side: Dial returns a Client whose reader goroutine demultiplexes
// responses by request id, so several sessions on one connection run
// concurrently. Session implements Invoker, the one-method transport TA
// client packages model their commands over (go-tpm style). When the TA
// process dies or the connection drops, every pending and later call fails
// promptly with an error matching tee.ErrTargetDead (TEEC_ORIGIN_COMMS).
package rpc
