// Package conform is the fingerprint HAL conformance suite vendors run
// (`fpemu conform`): it drives any HAL serving fpemu's north API
// (IBiometricsFingerprint@2.1 as gRPC on a Unix socket, hal/halpb) through
// hal/halclient and reports every case as PASS, FAIL or SKIP, as a human
// summary, JSON or JUnit XML.
//
// # What is tested
//
// Suite "vts" is VtsHalBiometricsFingerprintV2_1TargetTest
// (hardware/interfaces/biometrics/fingerprint/2.1/vts/functional;
// VtsHalBiometricsFingerprintV2_1TargetTest), case for case through hal/vts's port: VTS's
// SetUp (setActiveGroup(99, store path) == SYS_OK) before each case, its 3 s
// kTimeout for every callback, its group 99, and its callbacks' rules — a
// case whose callback is VTS's FingerprintCallbackBase fails on any
// onError, an ErrorCallback filtering ERROR_CANCELED ignores other errors.
// Where gRPC cannot say what HIDL says, the closest faithful equivalent is
// used:
//
//   - ConnectNullTest: setNotify(NULL). On the north API closing a SetNotify
//     stream is setNotify(null) (callbacks are dropped), so the case
//     registers, checks the deviceId is not 0, and closes the stream at once.
//     That the HAL then goes on serving is checked by every later case.
//   - EnrollNullTest, CancelEnrollTest: VTS passes an uninitialized
//     uint8_t[69]; here 69 arbitrary bytes. The north API refuses a HAT of
//     another length with INVALID_ARGUMENT, as HIDL's array type would not
//     compile.
//   - SetActiveGroupNullTest: the null string is the empty string.
//   - GetAuthenticatorIdTest: VTS EXPECTs getAuthenticatorId() != 0 against
//     whatever the device holds; fingerprint.h says 0 means failure. AIDL
//     IFingerprint, which fpemu's TA follows (docs/protocol.md §9.7), says it
//     MUST be 0 with nothing enrolled. So the VTS assertion is made first as
//     is; if it fails with 0 and group 99 has no template, the case enrolls
//     one (it needs Gatekeeper and the sensor for that), asserts != 0 again
//     and removes it. Without those endpoints it is skipped with that reason,
//     never passed. fpemu's own rule is checked by AuthenticatorIdEmptyTest.
//
// Suite "fpemu" holds the stricter cases: a valid enroll round trip; the
// authenticate HAT (challenge = operation id, FINGERPRINT, user_id = the
// Gatekeeper SID, authenticator_id = getAuthenticatorId(), checked field
// by field; with Target.Keymaster its MAC too, by finishing a Keymaster
// operation bound to the authenticator id with it, as Keystore does — the
// suite itself holds no auth-token key); refusal of a replayed enroll HAT
// (after postEnroll), of a HAT whose challenge postEnroll revoked, of one
// for another challenge and of a FINGERPRINT HAT — each with a finger on
// the sensor, so that a HAL that accepts it visibly enrolls; cancel during
// enroll keeping the challenge; authenticator_id rules; lockout timing. A
// HAT older than the HAL's challenge window (10 minutes for fpemu) cannot
// be made without a clock control, so staleness is tested through the
// challenge: revoked, or not the outstanding one. Case.Doc says what each
// asserts and which rule it enforces; `fpemu conform --list` prints them.
//
// # What the device must expose
//
// A valid enroll HAT is the PASSWORD token the device's Gatekeeper mints
// when the credential is verified with the preEnroll challenge
// (gatekeeperd's role): with Target.Gatekeeper (the Gatekeeper TA's
// socket, docs/protocol.md §3) conform enrolls a random password for
// GatekeeperUID at the start and deletes the user at the end. Fingers
// reach the secure sensor only through the fingerprint TA's
// sensor-control endpoint (docs/protocol.md §9.10): with Target.Sensor a
// feeder presents a synthetic finger (sim/finger) each time a capture
// waits, as a user does when the UI asks. With Target.Keymaster (the
// Keymaster TA's socket, docs/protocol.md §2) the authenticate HAT is also
// checked the way Keystore uses it. A case needing an endpoint that was
// not given is reported SKIP with the reason — never PASS.
//
// # Isolation and timing
//
// fpemu's cases each use their own group (101–114), start by removing its
// templates and remove them again at the end, so that a case's templates
// and lockout state never meet another's. After every case the runner
// registers a fresh callback, calls cancel() and waits for its
// ERROR_CANCELED: an operation a case left running (for instance an
// enrollment a broken HAL accepted) ends before the next case starts. VTS
// does not do this; it is harness hygiene and changes no assertion.
//
// The north API has no clock control, so lockout is timed on the wall
// clock: LockoutTest (five rejections, then an attempt during the window)
// takes well under a second; LockoutExpiryTest waits out the 30 s
// FAIL_LOCKOUT_TIMEOUT_MS (refused at 28 s, accepted at 31 s; about 32 s in
// all) and can be left out with Config.Skip (`--skip LockoutExpiry`). A
// group locked out by an earlier run less than 30 s before makes the
// lockout cases fail at their first authentication. For HIDL HALs the
// framework (LockoutFrameworkImpl), not the HAL, enforces lockout; a
// vendor HAL that leaves it to the framework deselects both with
// `--skip Lockout`, and one documented to keep a non-zero authenticator id
// with no template deselects AuthenticatorIdEmptyTest.
//
// Without a target of its own, `fpemu conform` boots a device for itself
// (StartDevice: Keymaster, Gatekeeper and the fingerprint TA through the
// sim launcher, and the HAL process) in a temporary directory and removes
// it afterwards.
package conform
