// Package store is the payment server's durable state behind one
// interface, Store, with two real backends over the same migrations:
// payserver/store/sqlite (github.com/mattn/go-sqlite3, WAL, the default)
// and payserver/store/postgres (github.com/jackc/pgx/v5 pgxpool, for
// several server processes sharing one database). The conformance suite
// payserver/store/storetest runs every rule below against both.
//
// What it keeps (docs/protocol.md, "Payment server data model"):
//
//   - devices: a device's attestation key (bio/payment/proof KindDevice),
//     registered out of band and revocable;
//   - keys: a device's scene keys, bound to (device, app, scene), with the
//     finger list the scene certificate's FingerBinding commits to, the
//     key's signature-counter high-water mark, and revocation;
//   - orders: merchant orders, created under an Idempotency-Key (the same
//     key with the same parameters returns the first order);
//   - challenges: one per order and attempt, random 64-bit non-zero,
//     single-use, expiring (DefaultChallengeTTL), bound to (order, amount,
//     currency, payee, device);
//   - the ledger: one row per booked payment, never two for an order;
//   - requests: the request ids of booked payments, remembered for
//     ReplayWindow, so that a retried request returns its first result.
//
// Book is the one operation that moves money: it consumes the challenge,
// advances the key's counter by compare-and-swap (strictly greater —
// SOTER's counter rule, Apple App Attest's "strictly greater, atomically"),
// inserts the ledger row and records the request id in ONE transaction. A
// retried or duplicated request gets the first Receipt (Replayed set),
// never a second booking; every refusal wraps exactly one sentinel error
// of this package naming the rule (errors.Is).
//
// Store verifies no signature: the verifier (bio/payment/proof) checks the
// certificate chain and the statement first and hands the store what they
// say. The store enforces the rules that need state.
package store
