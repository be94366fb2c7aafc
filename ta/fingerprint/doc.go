// Package fingerprint is fpemu's fingerprint trusted application: the
// secure-world half of an Android fingerprint HAL (the vendor TA behind
// fingerprint.h / IBiometricsFingerprint@2.1 that the public QSEE fingerprint-payment write-ups
// describes). Its protocol — command codes, layouts, request types, events —
// is package fpproto, which the REE imports instead of this one.
//
// The TA:
//
//   - receives Keymaster's per-boot auth-token key only as a sealed
//     envelope (SET_AUTH_TOKEN_KEY, relayed by the HAL); until then every
//     HAT check and every HAT it would mint fails closed with
//     ERROR_HW_UNAVAILABLE;
//   - hands out a random non-zero PRE_ENROLL challenge with an expiry,
//     invalidated by POST_ENROLL (not by CANCEL);
//   - checks the enroll HAT in the AOSP order (parse, version, MAC,
//     outstanding challenge, PASSWORD authenticator, freshness), captures
//     samples from its virtual sensor (package sensor), merges them with
//     the matcher (package matcher) and commits the sealed template, the
//     SID it is bound to and a fresh random authenticator_id in one store
//     transaction;
//   - authenticates against the group's templates and mints a FINGERPRINT
//     HAT {challenge = operation_id, user_id = bound SID, authenticator_id}
//     MACed with Keymaster's key, reports the result to the bio hook
//     (package bio) and enforces the framework lockout policy
//     (LockoutFrameworkImpl: timed 30 s at every 5th consecutive failure,
//     permanent at 20), persisted in its store;
//   - enumerates and removes templates, answers getAuthenticatorId and
//     validates setActiveGroup paths.
//
// Operations are asynchronous over a synchronous command channel: ENROLL
// and AUTHENTICATE start an operation and return; the HAL then calls
// NEXT_EVENT (a bounded wait) to receive the fingerprint_msg_t events —
// ACQUIRED, TEMPLATE_ENROLLING, AUTHENTICATED, ERROR, TEMPLATE_REMOVED,
// TEMPLATE_ENUMERATING — with AOSP's numbers, and CANCEL from another
// session ends the operation with ERROR_CANCELED.
//
// The command set is specified in docs/protocol.md §9 ("Fingerprint TA
// commands and sensor control"); the TA's command table (rpc.Mux) is held
// against §9.2 by a test.
package fingerprint
