// Package demo is fpemu's end-to-end scenario runner: the body of
// `fpemu demo`, the README's first command.
//
// Run boots an emulated device in a fresh directory — Keymaster,
// Gatekeeper, the fingerprint TA and the payment TA as separate OS
// processes through the sim launcher, then the REE fingerprint HAL as a
// process beside them — and drives the whole fingerprint → auth token →
// signed payment chain from the outside, the way Android's framework, a
// payment app and its server would, timing every step:
//
//  1. the lock-screen PIN is enrolled and verified (Gatekeeper);
//  2. preEnroll (HAL) issues the enroll challenge, Gatekeeper mints the
//     PASSWORD auth token for it, and two synthetic fingers (sim/finger)
//     are enrolled through the HAL, their samples presented on the
//     fingerprint TA's sensor-control endpoint;
//  3. the payment app registers its app key and a scene payment key with
//     the payment TA (certified, bound to the enrolled fingers), the
//     payment TA issues the order's challenge (BEGIN_PAYMENT, bound to
//     the app's identity and scene key), the user authenticates with
//     operation_id = that challenge, the HAT is checked, the bio result the
//     fingerprint TA sealed for the payment TA has been relayed by the HAL
//     before onAuthenticated (as QSEE's bio_set_auth_result runs before the
//     token leaves the TEE), so the app's first SIGN_PAYMENT produces a
//     statement that verifies offline with the certified key
//     (bio/payment/proof);
//  4. the Android Keystore path: a Keymaster per-operation SM2 key bound
//     to the fingerprint authenticator id finishes only with the HAT of
//     authenticate(operation_id = its op handle);
//  5. the payment server (server.go, serverpay.go): a CA minted in the
//     demo directory, `fpemu server` as a process (SQLite ledger there,
//     loopback), a merchant order over HTTP, the scene key registered
//     over the gm-fs channel the payment TA terminates, the server's
//     challenge and signed summary, a touch, the statement sealed in the
//     TA, booked, the ledger row, the feedback verified by the TA; and
//     the server's refusals of a tampered amount, a counter rollback and
//     a replayed statement (docs/protocol.md §14);
//  6. the failure paths: an impostor is rejected, a newly enrolled finger
//     invalidates the payment key (KEY_INVALIDATED, re-register) and the
//     re-registered key signs, five failures lock the sensor out.
//
// Every step reports ok, its duration and details (Step); the run stops at
// the first step that does not behave as expected. Whatever happens —
// failure, context cancelled by SIGINT — Run stops the server, the HAL and
// every TA by pid and removes their sockets before it returns, and removes the device
// directory unless Config.Keep.
//
// The numbered rules each step checks are those of docs/protocol.md §3
// (Gatekeeper), §8 (payment TA, bio messages) and §9 (fingerprint TA), and
// of AOSP's fingerprint HAL 2.1 and Keymaster (AOSP).
package demo
