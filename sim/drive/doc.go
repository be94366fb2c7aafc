// Package drive holds the REE flows every fpemu tool repeats — the demo,
// conform, attack and the tests — written once: what gatekeeperd does with
// a user's lock-screen credential (enroll it, verify it for a PASSWORD
// hw_auth_token_t bound to a challenge), as Android's framework does.
//
// It is REE code: it imports TA protocol packages and tee/rpc only, never
// a TA implementation, tee/store, tee/boot or the launcher.
package drive
