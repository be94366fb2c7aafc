// Package tee holds the vocabulary every part of fpemu's emulated secure
// world shares: TA identities (GlobalPlatform TEEC_UUID), the TEE Client API
// result codes and return origins, invoke parameters, the device manifest
// (which TA may send which envelope to which), and the boot clock.
//
// The machinery lives in sub-packages, one concern each:
//
//   - tee/wire: the pure codec of CA→TA frames (no I/O, no crypto).
//   - tee/rpc: the client (CA) and server (TA host) over a Unix socket.
//   - tee/envelope: sealed inter-TA messages relayed by the REE.
//   - tee/boot: the fused device key, per-TA provisioning over an inherited
//     file descriptor, and the boot clock origin.
//   - tee/store: the per-TA sealed SQLite store.
//
// Numeric values follow the GlobalPlatform TEE Client API Specification
// v1.0 (GPD_SPE_007) so that traces read like those of a real TEE.
package tee
