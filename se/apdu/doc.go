// Package apdu is the pure ISO/IEC 7816-4 codec of the shield secure
// element (docs/protocol.md §15): command APDUs in the four cases of
// ISO/IEC 7816-4:2020 §5.2 (Table 2: case 1, 2, 3 and 4, each in short
// and extended length), response APDUs (§5.3: data field and SW1-SW2),
// and the status words the shield's applet answers (§5.6, Tables 5–6).
//
// Parsing is strict (docs/architecture.md rule 4): a byte string that is
// not exactly one well-formed command is an error wrapping one of the
// sentinels of errors.go, and no partial Command is returned. The codec
// does no I/O and no cryptography.
//
// Bounds: a command is at most MaxCommandSize bytes (extended case 4 with
// Nc = 65535), a response at most MaxResponseSize (Ne = 65536 plus SW1-SW2);
// nothing is allocated beyond the input's own length.
package apdu
