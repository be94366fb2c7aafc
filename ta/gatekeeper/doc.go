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
// The protocol — command codes, parameter layouts, the request types a
// client executes, payload and password-handle codecs, statuses — is
// package gkproto, which the REE imports; this package is the TA and only
// the TA process links it. It has three layers:
//
//   - pure policy, no I/O: FailureRecord, ComputeRetryTimeout,
//     ThrottleRequest;
//   - the password signature (DerivePasswordKey, ComputePasswordSignature):
//     HMAC-SHA256 over salt || version || user_id || flags || password, the
//     Trusty construction;
//   - the TA (NewTA, TA, its command table): the shared TA core (tee/tacore)
//     plus the handlers behind tee/rpc's Mux, persisting users, failure
//     records and the envelope replay mark.
//
// The command set and parameter layouts are specified in docs/protocol.md,
// section "Gatekeeper TA commands".
package gatekeeper
