// Package chanwire is the pure codec of fpemu's device ↔ payment-server
// trusted channel (docs/protocol.md §11): every handshake message of the
// three profiles (optee-rsa, gm, gm-fs), the record, the sealed blob of the
// optee-rsa profile and the application message in the TLV shape of seed
// 001 (device id, user id, custom info, signature).
//
// It does no I/O and no cryptography (docs/architecture.md rule 4, the way
// filippo.io/age keeps its format package apart): it turns bytes into typed
// values and back. Every decoder is strict — a versioned header, exact
// lengths, documented maxima, no trailing bytes, fields in canonical order —
// and an error returns the zero value, never a partial result. Every error
// wraps exactly one sentinel of errors.go (one per failed rule) and is a
// *FormatError naming the message and field, never the field's bytes.
// Signatures and MACs are computed by package channel over the bytes this
// package produces.
package chanwire
