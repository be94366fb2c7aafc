// Package payment is fpemu's payment TA (`fpemu ta payment`): the
// consumer of the fingerprint TA's bio hook, in the spirit of WeChat's
// SOTER and Alipay's IFAA TAs (Tencent SOTER, IFAA and Qualcomm QSEE's bio API).
//
// It takes the fingerprint TA's sealed reports through DELIVER — auth
// results ({result, SID, finger id, transaction id = authenticate
// operation_id, ...}) and finger lists — only from the fingerprint →
// payment route, with replay marks persisted in its store. Each successful
// auth result is single-use and expires (AuthResultTTL, default 30 s of
// boot clock).
//
// It keeps a SOTER-like key hierarchy in its sealed SQLite store: a device
// attestation key created at first boot; per-app keys certified by it;
// per-scene payment keys certified by the app key and bound at creation to
// the group's finger list (proof.FingerBinding). A new finger list for the
// group (an enrollment or a removal) invalidates those keys, and signing
// then fails with payproto.ErrKeyInvalidated: the app must re-register.
//
// SIGN_PAYMENT(scene key, challenge, payload) signs a proof.Statement only
// with a fresh successful auth result whose transaction id equals the
// challenge, consuming it, and stamps it with a persisted, strictly
// increasing counter. The statement verifies offline (proof.VerifyPayment)
// and with OpenSSL's SM2 tooling.
//
// This package is the TA implementation, which only the TA process links.
// What a client needs — command codes, parameter layouts, the KeyRef
// codec, the request types and the errors to test for — is the protocol
// package bio/payment/payproto, which the REE imports instead.
//
// Layers, one concern each:
//
//   - record.go: the pure codec of the sealed key record;
//   - db.go: the store schema, sealed rows, counter and the staged replay
//     guard (tee/tacore's Spec.Guard);
//   - ta.go, deliver.go, challenge.go, keys.go, sign.go: the TA, on the
//     shared TA core (tee/tacore);
//   - session.go: the command table behind tee/rpc's Mux
//     (docs/protocol.md §8.4).
package payment
