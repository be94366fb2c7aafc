// Package bio is the payment hook of the fingerprint TA: fpemu's analogue of
// the QSEE "bio" library that a fingerprint TA links and calls after every
// match (bio_set_auth_result) and whenever its enrolled set changes (the
// finger-list interface), and whose output a payment TA (IFAA, SOTER) consumes
// (see Tencent SOTER, IFAA and Qualcomm QSEE's bio API and the public QSEE write-ups of Alipay and WeChat payment).
//
// The package has two layers:
//
//   - codec.go: the pure, strict codecs of the two messages, AuthResult and
//     FingerList (no I/O, no crypto; docs/architecture.md rule 4). They are the
//     plaintext payloads of envelopes of type envelope.MsgBioAuthResult and
//     envelope.MsgFingerList on the fingerprint → payment route.
//   - hook.go: the Hook interface the fingerprint TA calls, and Sender, the
//     implementation that seals each message for the payment TA
//     (envelope.Sealer, recipient tee.UUIDPayment) and queues it in an
//     outbox the REE drains and relays (docs/architecture.md rule 1: TAs never talk to
//     each other directly).
//
// The payment TA that opens these envelopes is package bio/payment. The
// wire formats are specified in docs/protocol.md, "Payment TA and bio
// messages".
package bio
