// Package wire is the payment server's application protocol over the
// trusted channel (docs/protocol.md §14): the messages a payment app
// exchanges with `fpemu server` inside channel records, and the order
// binding the payment TA signs. Each message is the custom information of
// one channel application message (chanwire.AppMessage), so the channel
// already authenticates, encrypts, orders and signs it; this package only
// gives it a versioned, canonical shape.
//
// Every message starts with Marker, Version and a Type byte. A custom
// info that does not start with Marker is a signed payment statement
// (proof.Signed, whose first byte is the high byte of a u32 length ≤
// proof.MaxBodySize, hence 0x00) — what the payment TA's
// CHANNEL_SEAL_PAYMENT seals — and must follow a PayIntent.
//
// Codecs are pure (docs/architecture.md rule 4): no I/O, no crypto.
// Parsing is strict (exact lengths, no trailing bytes, every bound
// checked) and returns the zero value with an error wrapping ErrMalformed.
package wire
