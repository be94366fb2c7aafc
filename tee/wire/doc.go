// Package wire is the pure codec of fpemu's CA→TA frames: the messages a
// client application (CA) and a trusted-application host exchange over a
// stream socket to open a session on a TA, invoke commands with up to four
// parameters and close the session, in the shape of the GlobalPlatform TEE
// Client API (GPD_SPE_007: TEEC_OpenSession, TEEC_InvokeCommand,
// TEEC_CloseSession, TEEC_Parameter).
//
// The package does no I/O and no crypto (docs/architecture.md rule 4). Integers are
// big-endian, every field has a fixed size, and a frame is
//
//	u32 length | u8 version | u8 op | u16 reserved | u32 request_id | body
//
// with length counting the bytes after the length field and bounded by
// MaxFrameLen. docs/protocol.md is the normative description, with byte
// offsets, the op table, the parameter encodings and a worked example; the
// constants and checks here cite it.
//
// Decoding is strict: exact lengths, no trailing bytes, reserved fields
// zero, known version, op and parameter types. Every decoding failure is a
// *FormatError, which matches both its specific sentinel (ErrTruncated,
// ErrUnknownParamType, …) and tee.ErrBadFormat under errors.Is, so a TA host
// answers it with TEEC_ERROR_BAD_FORMAT. A failed decode returns the zero
// value, never a partial result, and a successful one returns values that
// own their bytes (nothing aliases the input buffer).
package wire
