// Package kmproto is the Keymaster TA's protocol (docs/protocol.md §2):
// what a client in the REE needs to talk to any Keymaster TA behind the
// CA→TA framing, and nothing of the TA itself.
//
//   - command codes (Command) and their parameter layouts (Types*), the
//     operation-handle convention (HandleParam, HandleOf) and the output
//     sizes a client must offer (BlobSize, PublicKeySize,
//     MaxSignatureSize, AuthTokenKeyEnvelopeSize);
//   - the request types (GenerateKey, Begin, Update, Finish, Abort,
//     GetAuthTokenKey), go-tpm style: fill a value, call Execute with any
//     rpc.Invoker — an rpc session, an in-process TA, a vendor's TA;
//   - keymaster_error_t codes (ErrorCode, AOSP keymaster_defs.h = AIDL
//     android.hardware.security.keymint.ErrorCode), the typed *Error and
//     how it travels as a TEEC result (ResultBase, FromTEE);
//   - key-parameter tags and values (AOSP Tag.aidl, keymaster_defs.h) and
//     the strict, pure key-parameter codec (Params, ParseParams) whose
//     canonical bytes bind a key blob;
//   - the part of the key-blob format the REE may read (BlobParams; docs/
//     protocol.md §2.6) and offline signature verification with a key's
//     public point (VerifySignature).
//
// The TA implementation, package keymaster, imports this package; this
// package never imports it, nor tee/store, tee/boot, tee/taproc, tee/tacore
// or tee/marks (docs/architecture.md, "Protocol packages"), so the REE
// links none of the secure world.
package kmproto
