// Package gkproto is the Gatekeeper TA's protocol (docs/protocol.md §3):
// what a client in the REE needs to talk to any Gatekeeper TA behind the
// CA→TA framing, and nothing of the TA itself.
//
//   - command codes (Command) and their parameter layouts (Types*);
//   - the request types (SetAuthTokenKey, Enroll, Verify, DeleteUser,
//     DeleteAllUsers), go-tpm style: fill a value, call Execute with any
//     rpc.Invoker — an rpc session, an in-process TA, a vendor's TA;
//   - the pure codecs of the payloads (EnrollPayload, VerifyPayload) and of
//     AOSP's password_handle_t (PasswordHandle);
//   - the Gatekeeper HAL statuses (Status, HIDL GatekeeperStatusCode =
//     AIDL IGatekeeper) and the errors a client tests for.
//
// The TA implementation, ta/gatekeeper, imports this package; this package
// never imports it, nor tee/store, tee/boot, tee/taproc or tee/tacore
// (docs/architecture.md, "Protocol packages"), so the REE links none of
// the secure world.
package gkproto
