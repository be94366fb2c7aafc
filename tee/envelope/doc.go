// Package envelope seals messages from one trusted application to another
// for relay across the untrusted REE — fpemu's analogue of Qualcomm QSEE's
// qsee_encapsulate_inter_app_message / qsee_decapsulate_inter_app_message.
//
// TAs never talk to each other directly (docs/architecture.md rule 1). A sender seals
// a payload for one named recipient with the pairwise key of that route
// (docs/architecture.md rule 2: keys exist only for the routes of the device manifest,
// tee.Routes); the HAL or an app carries the bytes; the recipient opens
// them. The REE can drop, delay or replay an envelope, but it cannot read,
// forge or redirect it, and the recipient rejects a replay.
//
// The package has three layers, one concern each:
//
//   - codec.go: the pure wire codec (no crypto, no I/O). Parse is strict and
//     the canonical header bytes it defines are the AEAD associated data.
//   - seal.go / open.go: SM4-GCM (GB/T 32907-2016 block cipher in NIST
//     SP 800-38D GCM mode, as in RFC 8998) with 16-byte pairwise keys and
//     random 12-byte nonces.
//   - replay.go / seq.go: per-route sequence numbers, strictly increasing
//     on the sender and checked against a high-water mark on the recipient.
//
// Wire format (all integers big-endian):
//
//	offset size field
//	0      1    version (1)
//	1      16   sender TA UUID
//	17     16   recipient TA UUID
//	33     4    message type
//	37     8    sequence number (non-zero)
//	45     12   GCM nonce
//	57     4    payload length n (≤ MaxPayload)
//	61     n    SM4-GCM ciphertext
//	61+n   16   GCM tag
//
// Bytes 0..60 (the header) are the associated data, so none of them can be
// changed without Open failing with ErrAuth.
package envelope
