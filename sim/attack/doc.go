// Package attack plays a compromised REE — a malicious fingerprint HAL,
// Keystore or payment app, with root in the normal world — against an
// emulated device, and reports for each attack whether the secure world's
// defence held. It is the engine of `fpemu attack`.
//
// docs/architecture.md draws the trust boundary between the REE and the TAs: the REE
// can call any TA command with any bytes, carry, drop, delay, replay or
// reorder the sealed envelopes TAs exchange (rule 1), and read, copy, edit
// and restore every file of the TAs' data directories (rule 5); it cannot
// read a TA's memory, its provisioning record or the RPMB stand-in
// (docs/protocol.md §5, §6.6). Each attack exercises one such capability
// against the rule that must stop it:
//
//   - hw_auth_token_t integrity and binding (AOSP hw_auth_token.h;
//     KeyMint per-operation auth, docs/protocol.md §2.5; fingerprint enroll
//     checks, §9.5): flipped bytes, a HAT of another operation, a HAT MACed
//     with a guessed key, a stale (closed by post_enroll) or revoked
//     (replaced by a newer pre_enroll) enroll challenge — the 10-minute
//     expiry of an unused challenge needs a clock the REE cannot move on
//     a running device, so it is tested in process instead
//     (ta/fingerprint TestChallengeLifetime);
//   - envelopes (the qsee_encapsulate_inter_app_message analogue, §4):
//     replayed, redirected, reordered or forged auth-token-key envelopes
//     and bio auth results, and one auth result spent twice (§8);
//   - sealed storage (§6): template rows swapped between groups in the
//     fingerprint TA's SQLite file, and the file rolled back to an older
//     copy, which the rollback counter outside data/ must detect the way
//     OP-TEE detects REE-FS rollback with RPMB;
//   - the trusted channel (docs/protocol.md §8.11, §11): the REE between
//     the payment TA and a payment server (channel.Server on loopback TCP
//     in this process) swaps certificates and ephemeral keys, replays,
//     reorders, reflects and forges records, downgrades gm-fs, mixes two
//     sessions' handshake messages, hands over another device's record and
//     cuts the handshake short (channel.go; which rows have canaries and
//     why the others cannot is said there);
//   - the payment server (docs/protocol.md §14; server.go, srvbench.go):
//     the REE as the payment app replays a booked statement, presents it
//     for another order, has the TA sign an edited amount or payee, holds
//     back an older statement (counter rollback), reuses a consumed
//     challenge, replays the victim's statement and chain from its own
//     CA-certified phone, registers a chain under its own device key, and
//     races two payments of one order across two `fpemu server` processes
//     on one SQLite file (Config.ServerCommand);
//   - the shield secure element (docs/protocol.md §15; shield.go): the REE
//     owning the middleware, the share files and the APDU stream brute-
//     forces the user PIN (also across a power loss: the card process
//     killed by SIGKILL and restarted), replays a protected APDU, has the
//     card sign for a phishing server or under another pre-submit's server
//     signature, and opens secure messaging with too few key shares. The
//     card is its own process (`fpemu se --dir DIR --socket PATH`,
//     Config.SECommand), reached only in APDUs over its socket: this
//     package links neither se/card nor its sealed store;
//   - robustness: a TA killed by SIGKILL in the middle of an enrollment
//     (docs/architecture.md rule 5: one transaction, old or new state) and a few
//     thousand fuzzed frames at every TA socket (§1.8).
//
// The resource rows play a local client that tries to make a TA host or
// TA hold everything (docs/protocol.md §1.6.1, §2.1): conn-flood holds the
// Keymaster host's whole connection cap and checks that further clients
// get TEEC_ERROR_BUSY (GPD_SPE_007 §4.4.2), stalled-frames stalls 1,000
// frames one byte short of 1 MiB and reads the Keymaster process's VmRSS,
// km-op-exhaust holds every Keymaster operation slot from one client. Each
// judges survival by a genuine client's GENERATE_KEY, BEGIN and FINISH;
// their canaries run a Keymaster process without the bound
// (sim.RunWeakenedTA).
//
// Every attack boots its own device (all four TAs and the HAL, one process
// each, through package sim) in a subdirectory of Config.Dir, plays its
// honest preliminaries (a PIN, enrolled fingers, payment keys) through the
// same interfaces a phone's framework uses, then attacks. Where an attack
// needs the HAL's raw position — the TA event queue, the bio outbox — it
// stops the honest HAL process and takes its place. Each attack also runs
// a control (the genuine token signs, the first delivery is accepted, the
// newest database copy opens) so that a refusal is shown to come from the
// defence and not from a broken setup; an attack whose control fails is
// reported as an error, never as a defence.
//
// A Result says "rejected" or "survived" when the defence held. Anything
// else — "NOT REJECTED", "NOT SURVIVED" or "ERROR" — fails the run
// (Report.OK), and Result.Findings names the exact input that got through.
// An "ERROR" row's findings say which step could not be judged and why —
// for a wait that ran out, what it waited for and how far it got (the
// text of a result the client library made itself, TEEC_ORIGIN_API, is
// kept whole) — and quote the devices' last log lines.
package attack
