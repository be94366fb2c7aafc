// Package gatekeeper is fpemu's Gatekeeper trusted application: the
// secure-world half of Android's password authentication (AOSP
// system/gatekeeper, Trusty trusty_app_gatekeeper).
//
// The TA enrolls passwords into password handles (password_handle_t, AOSP
// include/gatekeeper/password_handle.h: 58 packed bytes, HANDLE_VERSION 2),
// verifies a password against its handle and, on success, mints a PASSWORD
// hardware auth token (hw_auth_token_t, package tokens) MACed with the
// per-boot auth-token key that Keymaster sends it in a sealed envelope. It
// throttles guessing exactly as AOSP GateKeeper::ComputeRetryTimeout and
// GateKeeper::ThrottleRequest do, with failure records kept in the TA's
// sealed SQLite store so that a TA restart does not reset them.
//
// The package has four layers:
//
//   - pure codecs and policy, no I/O: PasswordHandle (ParseHandle,
//     Marshal), FailureRecord, ComputeRetryTimeout, ThrottleRequest, the
//     command payload codec (EnrollPayload, VerifyPayload);
//   - the password signature (DerivePasswordKey, ComputePasswordSignature):
//     HMAC-SHA256 over salt || version || user_id || flags || password, the
//     Trusty construction;
//   - the TA (NewTA, TA, session): the command handlers behind tee/rpc,
//     persisting users, failure records and the envelope replay mark;
//   - the client (Client and the Enroll, Verify, ... request types), go-tpm
//     style over any rpc.Invoker.
//
// The command set and parameter layouts are specified in docs/protocol.md,
// section "Gatekeeper TA commands".
package gatekeeper
