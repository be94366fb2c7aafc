// Package channel is fpemu's device ↔ payment-server trusted channel
// (docs/protocol.md §11): the handshake state machines of both sides and
// the record layer of its three profiles, over the pure codecs of
// package chanwire.
//
//   - gm-fs (the default): SM2 dual certificates (signing + encryption),
//     ephemeral SM2 keys on both sides, the SM2 key exchange of
//     GB/T 32918.3 (SM2MQV, KDF, the S_A/S_B confirmations), an SM3
//     transcript hash under every signature, HMAC-SM3 Finished MACs before
//     any application data, the offered profile list inside the transcript,
//     SM4-GCM records with per-direction keys and sequence numbers.
//   - gm: seed 001 as written — the same certificates, signatures over both
//     randoms and both identities, the GB/T 32918.3 exchange run with the
//     static encryption keys only (no forward secrecy), SM4-GCM records;
//     and the seed's per-message digital envelope (GM/T 0010
//     SignedAndEnvelopedData) for store-and-forward.
//   - optee-rsa: seed 000 as written — RSA-2048, randoms A/B/C, a PBKDF2
//     session key, AES-CBC records signed with RSA-PSS (OAEP and PSS where
//     the seed leaves the padding open).
//
// Both sides are driven by bytes in and bytes out, with no I/O: the device
// side (Client) is what the payment TA hosts behind its TA commands —
// Open → first message, Continue(msg) → next message or established,
// Seal(app message) → record, OpenRecord(record) → app message — and the
// server side (Server) is the library the payment server hosts. Long-term
// keys are behind small interfaces (crypto.Signer, crypto.Decrypter,
// KeyExchanger) so that a TA keeps them in its sealed store.
//
// Every failed check returns an error wrapping one sentinel of errors.go
// (one per rule, cited in its doc comment) and kills the state machine:
// nothing it computed is kept, and every later call returns ErrDead.
//
// A failure's error goes only to the call that caused it; the dead state
// machine does not keep it, and ErrDead carries nothing of it. The first
// error can name what the peer got wrong (which check, a parse offset, a
// certificate's fault), detail a TEE-hosted side must not hand to the
// normal world: the host decides once what to surface (the payment TA
// answers a TEEC result code only, docs/protocol.md §1.7, and logs the
// detail in the TA), and no later caller of the same Client or Server —
// another command on the channel handle, a relay of its state — can read
// it back.
package channel
