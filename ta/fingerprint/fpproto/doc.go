// Package fpproto is the fingerprint TA's protocol (docs/protocol.md §9):
// what a client in the REE — the fingerprint HAL, the conformance suite, a
// vendor's Go harness — needs to drive any fingerprint TA behind the CA→TA
// framing, and nothing of the TA itself.
//
//   - command codes (Command, with the names of docs/protocol.md §9.2) and
//     their parameter layouts (Types*), as data a test can list;
//   - the request types (PreEnroll, Enroll, PostEnroll, GetAuthenticatorID,
//     Cancel, Enumerate, Remove, SetActiveGroup, Authenticate, NextEvent,
//     ResetLockout, FetchOutbox, SetAuthTokenKey), go-tpm style: fill a
//     value, call Execute with any rpc.Invoker;
//   - the Event (fingerprint_msg_t) and its NEXT_EVENT codec (PutEvent,
//     DecodeEvent);
//   - AOSP's codes with AOSP's numbers (hardware/libhardware fingerprint.h,
//     HIDL android.hardware.biometrics.fingerprint@2.1 types.hal:
//     MsgType, Error, AcquiredInfo, RequestStatus), fpemu's Reason, the
//     typed refusals (HATError, ReasonError) and the TA's documented limits.
//
// The TA implementation, ta/fingerprint, imports this package; this
// package never imports it, nor the matcher, the sensor implementation,
// tee/store, tee/boot, tee/taproc or tee/tacore (docs/architecture.md,
// "Protocol packages"), so the REE links none of the secure world.
package fpproto
