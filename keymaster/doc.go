// Package keymaster is fpemu's Keymaster trusted application: the per-boot
// auth-token key and its sealed distribution (GET_AUTH_TOKEN_KEY),
// auth-bound SM2 and ECDSA P-256 signing keys whose blobs leave the TA
// sealed and bound to their key parameters, and begin/update/finish/abort
// operations that enforce the KeyMint user-authentication rules (AOSP
// Tag.aidl, keymaster_enforcement.cpp, KMR operation.rs).
//
// Its protocol — command codes and layouts, the request types a client
// executes, key parameters, errors — is package keymaster/kmproto, which
// the REE imports; only the TA process links this package. The TA runs on
// the shared core (tee/tacore, without a sealed store: Keymaster's state
// lives for one boot) and answers commands through one table (rpc.Mux).
//
// The package has one concern per file:
//
//   - errors.go: how a Keymaster error leaves the TA as a TEEC result.
//   - keyblob.go: sealing and opening key blobs (SM4-GCM under a key
//     derived from the TA storage key, parameters as associated data).
//   - keys.go: key generation, parameter validation, signers.
//   - enforce.go: the user-authentication policy of a key and its checks at
//     begin and at update/finish, against a tee.Clock and a tokens.MAC.
//   - operation.go: the table of live operations.
//   - keycache.go: keys loaded from blobs the TA has authenticated.
//   - ta.go, commands.go: the TA (rpc.TA) and its command table.
//
// The wire layout of every command is in docs/protocol.md, section
// "Keymaster TA commands".
package keymaster
