// Package payproto is the payment TA's protocol (docs/protocol.md §8.4–8.10):
// what a client in the REE — the HAL relaying bio envelopes, a payment app,
// a tool — needs to talk to any payment TA behind the CA→TA framing, and
// nothing of the TA itself.
//
//   - command codes (Command) and their parameter layouts (Types*), the
//     output capacity and the bounds a client can run into (MaxPayload,
//     MaxKeysPerIdentity, MaxChallengesPerIdentity, MaxPendingChallenges);
//   - the key reference codec (KeyRef);
//   - the request types (Deliver, SetAuthTokenKey, GetDeviceCert,
//     CreateAppKey, CreateSceneKey, GetCert, BeginPayment, SignPayment,
//     DeleteKey), go-tpm style: fill a value, call Execute with any
//     rpc.Invoker — an rpc session, an in-process TA, a vendor's TA — and
//     what DELIVER reports (Delivery);
//   - the TA-defined results (Result*) and the errors a client tests for,
//     which match the TA's answers with errors.Is.
//
// Certificates and statements are bio/payment/proof's. The TA
// implementation, bio/payment, imports this package; this package never
// imports it, nor tee/store, tee/boot, tee/taproc, tee/tacore or tee/marks
// (docs/architecture.md, "The TA core, the command table and protocol
// packages"), so the REE links none of the secure world.
package payproto
