// Package drive holds the REE flows every fpemu tool repeats — the demo,
// conform, attack and the tests — written once:
//
//   - what gatekeeperd does with a user's lock-screen credential (EnrollPIN;
//     PIN.HAT verifies it for a PASSWORD hw_auth_token_t bound to a
//     challenge), as Android's framework does;
//   - a way into the fingerprint stack (Fingerprint): the HAL's north API
//     (HAL) or the fingerprint TA's CA commands (TA), events in the TA's
//     form either way;
//   - the fingerprint flows over it, playing the user on the virtual
//     sensor: Enroll (a touch per sample asked for) and Authenticate (a
//     touch per rejection, then cancel), with an Observer for a tool that
//     checks every event;
//   - the payment app's side (App): RegisterScene, then Pay — BEGIN_PAYMENT,
//     Authenticate for its challenge, the match's auth result relayed (by
//     the HAL, or RelayOutbox when the caller plays it), SIGN_PAYMENT
//     verified offline.
//
// It is REE code: it imports TA protocol packages, tee/rpc and the HAL
// client only, never a TA implementation, tee/store, tee/boot or the
// launcher.
package drive
