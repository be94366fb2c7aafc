// Package hal is fpemu's REE fingerprint HAL process: what
// android.hardware.biometrics.fingerprint@2.1-service is on a phone. It
// serves the IBiometricsFingerprint@2.1 surface (the north API) as gRPC on
// a Unix socket (package hal/halpb; docs/protocol.md, "HAL north API
// (gRPC)"), and drives the fingerprint TA below it over CA→TA sessions
// (package ta/fingerprint), which plays the vendor's legacy fingerprint.h
// HAL.
//
// The HAL holds no secret and no provisioning record (docs/architecture.md rule 1):
//
//   - On open it asks Keymaster for its auth-token key sealed to the
//     fingerprint TA (GET_AUTH_TOKEN_KEY) and relays the envelope, unopened,
//     with SET_AUTH_TOKEN_KEY. It does so again whenever it reconnects to a
//     restarted TA.
//   - It pumps the TA's NEXT_EVENT and turns each fingerprint_msg_t into one
//     client callback, with the default 2.1 wrapper's conversions
//     (BiometricsFingerprint.cpp): vendor codes ≥ 1000 become ERROR_VENDOR /
//     ACQUIRED_VENDOR with vendorCode = code − 1000, unknown codes become
//     ERROR_UNABLE_TO_PROCESS / ACQUIRED_INSUFFICIENT, and a rejection is
//     onAuthenticated with fingerId 0 and an empty token.
//   - It drains the TA's FETCH_OUTBOX and relays the sealed bio envelopes,
//     in order, to the payment TA when one is running (when none is, it
//     leaves them in the TA's bounded outbox). It does so before the
//     callback that ends an operation with a report the payment side
//     needs — a matching onAuthenticated, the last onEnrollResult or
//     onRemoved — so that, as with QSEE's synchronous
//     bio_set_auth_result, the payment TA already holds the auth result
//     (or the new finger list) when the app hears of it; after the other
//     endings. A relay that fails is logged and never holds back or drops
//     the callback.
//
// One operation runs at a time. A new enroll, authenticate, enumerate or
// remove while one runs cancels the running one first, as the legacy HAL
// does: the client sees onError(ERROR_CANCELED) for the old operation, then
// the new one's callbacks. cancel() always answers SYS_OK and produces
// exactly one onError(ERROR_CANCELED), even when idle (VTS CancelTest). If
// the TA process dies, an operation in progress ends with
// onError(ERROR_HW_UNAVAILABLE) and methods answer SYS_EIO until the TA is
// back (the HAL reconnects on the next call).
package hal
