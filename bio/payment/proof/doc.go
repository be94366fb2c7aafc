// Package proof defines what the payment TA (bio/payment) hands out and a
// payment server checks offline: key certificates and signed payment
// statements, as canonical bytes, and their verification. It does no I/O
// and holds no state, so a payment server can import it without the TA.
//
// The key hierarchy follows Tencent SOTER's ATTK → ASK → AuthKey
// (Tencent SOTER's ATTK → ASK → AuthKey hierarchy):
//
//	device attestation key   KindDevice  self-signed; created at first boot
//	  └─ app key             KindApp     one per app id, signed by the device key
//	       └─ scene key      KindScene   one per (app, scene), signed by the app key,
//	                                     bound to the enrolled finger list
//	            └─ statement KindPayment signed by the scene key, only after a
//	                                     fresh fingerprint match for its challenge
//
// Every signature is SM2 (GB/T 32918.2-2016) over the signed body with
// SM3 and the default distinguishing identifier 1234567812345678
// (GM/T 0009-2012 §10 / GM/T 0009-2023 §8.1), DER-encoded — exactly what
// `openssl dgst -sm3 -sigopt distid:1234567812345678 -verify` checks.
//
// The byte layouts are specified in docs/protocol.md, "Payment TA and bio
// messages".
package proof
