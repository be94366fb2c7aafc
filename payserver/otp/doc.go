// Package otp is the payment server's one-time-code factor (seed 003's
// "dynamic verification code"; issue 12; docs/protocol.md §16.3): code
// generation for two algorithms and a verifier that accepts a code at
// most once.
//
//   - SM3-OTP, GM/T 0021-2012 "Dynamic password cryptographic application
//     technical specification": ID = T ‖ C ‖ Q (time factor, 8 bytes;
//     event counter, 4 bytes; challenge, ≥ 4 bytes; at least one present,
//     zero-padded to 16 bytes), S = SM3(K ‖ ID) with a seed K of at least
//     128 bits, OD = S1 + … + S8 mod 2^32 over S's eight big-endian 32-bit
//     words, P = OD mod 10^N with N ≥ 6. Implemented here (SM3 from
//     github.com/emmansun/gmsm), pinned to the standard's appendix sample
//     data (testdata/gmt0021_sm3.json).
//   - TOTP, RFC 6238 (HOTP, RFC 4226, over the time step), through
//     github.com/pquerna/otp: the widely used Go implementation (Google
//     Authenticator compatible), pinned to RFC 6238 Appendix B.
//
// Verifier checks a code against the steps now−Skew … now+Skew in constant
// time per candidate and then asks a StepStore to advance the (device,
// app) high-water mark to the matched step by compare-and-swap: a code for
// a step at or below the last accepted one is ErrReplay (RFC 6238 §5.2:
// "the verifier MUST NOT accept the second attempt of the OTP after the
// successful validation has been issued for the first OTP"), which also
// refuses a still-valid code of the previous window once a newer one was
// accepted. payserver/store implements StepStore atomically on SQLite and
// PostgreSQL.
//
// Seeds are stored sealed (Sealer, SM4-GCM under a server key kept out of
// the database, the (device, app, parameters) as associated data): the
// database is shared by every server process and copied by backups and
// replicas, and an OTP seed — unlike every other credential the store
// keeps, which are public keys — is a symmetric secret that mints codes.
package otp
