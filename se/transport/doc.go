// Package transport carries APDUs between hosts and a shield card
// (se/card): a Unix socket with fpemu's own length-prefixed framing, for
// fpemu's tests and tools, and the vsmartcard vpcd protocol, which makes
// the card a real PC/SC card behind pcscd's virtual reader
// (docs/protocol.md §15.3).
//
// vpcd (frankmorgner/vsmartcard, virtualsmartcard/src/vpcd/vpcd.h and the
// "Creating a virtual smart card" page of its documentation): pcscd's
// vpcd driver listens on TCP port 35963 (VPCDPORT) and the card connects
// to it. Every message in either direction is a 2-byte big-endian length
// and the payload. A 1-byte payload from the reader is a control
// message: 0x00 power off, 0x01 power on, 0x02 reset (no response), 0x04
// ATR request (the card answers with its ATR); anything longer is a
// command APDU, answered with the response APDU.
//
// Bounds: the socket server accepts at most MaxConns connections at once,
// drops a connection idle for IdleTimeout, and refuses a frame longer than
// apdu.MaxCommandSize; the vpcd client holds one connection.
package transport
