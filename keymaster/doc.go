// Package keymaster is fpemu's Keymaster trusted application and its
// client: the per-boot auth-token key and its sealed distribution
// (GET_AUTH_TOKEN_KEY), auth-bound SM2 and ECDSA P-256 signing keys whose
// blobs leave the TA sealed and bound to their key parameters, and
// begin/update/finish/abort operations that enforce the KeyMint
// user-authentication rules (AOSP Tag.aidl,
// keymaster_enforcement.cpp, KMR operation.rs).
//
// The package has one concern per file:
//
//   - errors.go: keymaster_error_t codes, the typed *Error, and how they
//     travel as TEEC results.
//   - tag.go, params.go: key-parameter tags (AOSP numbers) and the strict,
//     pure key-parameter codec whose canonical bytes bind a key blob.
//   - keyblob.go: sealing and opening key blobs (SM4-GCM under a key
//     derived from the TA storage key, parameters as associated data).
//   - keys.go: key generation, parameter validation, signers.
//   - enforce.go: the user-authentication policy of a key and its checks at
//     begin and at update/finish, against a tee.Clock and a tokens.MAC.
//   - operation.go: the table of live operations.
//   - keycache.go: keys loaded from blobs the TA has authenticated.
//   - ta.go, commands.go: the TA (rpc.TA) and its command dispatch.
//   - client.go: go-tpm style request types executed over rpc.Invoker.
//
// The wire layout of every command is in docs/protocol.md, section
// "Keymaster TA commands".
package keymaster
