package chanwire

import "encoding/binary"

// Version is the only channel version this package emits or accepts.
const Version uint8 = 1

// HeaderSize is the length of the header every message starts with:
// version(1) profile(1) type(1) body_length(4, big-endian).
const HeaderSize = 7

// MaxBody bounds the body of any message: 16 KiB of record plaintext plus
// the largest per-record overhead (optee-rsa: IV, CBC padding, RSA-4096
// signature and their length prefixes), rounded up. A server or TA reads at
// most HeaderSize+MaxBody bytes for one message.
const MaxBody = 20 * 1024

// Profile names the channel profile (docs/protocol.md §11.1).
type Profile uint8

// The profiles of version 1.
const (
	// ProfileOpteeRSA is seed 000 as written: RSA-2048, randoms A/B/C,
	// PBKDF2 session key, AES-CBC records signed with RSA-PSS.
	ProfileOpteeRSA Profile = 1
	// ProfileGM is seed 001: SM2 dual certificates, signatures over both
	// randoms and identities, SM2 key exchange (GB/T 32918.3) of the static
	// encryption keys, SM4-GCM records.
	ProfileGM Profile = 2
	// ProfileGMFS is the default: ProfileGM with ephemeral SM2 keys, a
	// transcript hash under every signature, Finished MACs and the offered
	// profile list in the transcript.
	ProfileGMFS Profile = 3
)

// Known reports whether p is a profile of this version.
func (p Profile) Known() bool { return p >= ProfileOpteeRSA && p <= ProfileGMFS }

func (p Profile) String() string {
	switch p {
	case ProfileOpteeRSA:
		return "optee-rsa"
	case ProfileGM:
		return "gm"
	case ProfileGMFS:
		return "gm-fs"
	}
	return "unknown"
}

// ParseProfile maps a profile name to its value.
func ParseProfile(name string) (Profile, bool) {
	for _, p := range []Profile{ProfileOpteeRSA, ProfileGM, ProfileGMFS} {
		if p.String() == name {
			return p, true
		}
	}
	return 0, false
}

// Type is a message type (docs/protocol.md §11.2).
type Type uint8

// Message types. The SM2 profiles use 1–3, optee-rsa 0x11–0x13; the
// record type 0x17 is shared (TLS's application_data number, RFC 8446).
const (
	TypeClientHello    Type = 0x01
	TypeServerHello    Type = 0x02
	TypeClientFinished Type = 0x03
	TypeRSAHello       Type = 0x11
	TypeRSAResponse    Type = 0x12
	TypeRSAConfirm     Type = 0x13
	TypeRecord         Type = 0x17
)

func (t Type) String() string {
	switch t {
	case TypeClientHello:
		return "ClientHello"
	case TypeServerHello:
		return "ServerHello"
	case TypeClientFinished:
		return "ClientFinished"
	case TypeRSAHello:
		return "RSAHello"
	case TypeRSAResponse:
		return "RSAResponse"
	case TypeRSAConfirm:
		return "RSAConfirm"
	case TypeRecord:
		return "Record"
	}
	return "unknown"
}

// validType reports whether profile p uses type t.
func validType(p Profile, t Type) bool {
	switch t {
	case TypeRecord:
		return true
	case TypeClientHello, TypeServerHello, TypeClientFinished:
		return p == ProfileGM || p == ProfileGMFS
	case TypeRSAHello, TypeRSAResponse, TypeRSAConfirm:
		return p == ProfileOpteeRSA
	}
	return false
}

// Header is the fixed start of every message.
type Header struct {
	Version uint8
	Profile Profile
	Type    Type
	Length  uint32 // body length in bytes, ≤ MaxBody
}

// ParseHeader decodes and checks the first HeaderSize bytes of b (version,
// known profile, type used by the profile, length ≤ MaxBody). It does not
// look past the header: a reader of a stream uses it to learn how many body
// bytes to read.
func ParseHeader(b []byte) (Header, error) {
	const m = "Header"
	if len(b) < HeaderSize {
		return Header{}, ferr(m, "", ErrTruncated, "%d of %d bytes", len(b), HeaderSize)
	}
	h := Header{Version: b[0], Profile: Profile(b[1]), Type: Type(b[2]), Length: binary.BigEndian.Uint32(b[3:7])}
	switch {
	case h.Version != Version:
		return Header{}, ferr(m, "version", ErrVersion, "%d", h.Version)
	case !h.Profile.Known():
		return Header{}, ferr(m, "profile", ErrUnknownProfile, "%d", uint8(h.Profile))
	case !validType(h.Profile, h.Type):
		return Header{}, ferr(m, "type", ErrUnknownType, "0x%02x for %s", uint8(h.Type), h.Profile)
	case h.Length > MaxBody:
		return Header{}, ferr(m, "length", ErrTooLarge, "%d > %d", h.Length, MaxBody)
	}
	return h, nil
}

// Split checks b's header and that b holds exactly one message, and
// returns the header and the body.
func Split(b []byte) (Header, []byte, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return Header{}, nil, err
	}
	rest := b[HeaderSize:]
	switch {
	case len(rest) < int(h.Length):
		return Header{}, nil, ferr(h.Type.String(), "", ErrTruncated, "body %d of %d bytes", len(rest), h.Length)
	case len(rest) > int(h.Length):
		return Header{}, nil, ferr(h.Type.String(), "", ErrTrailing, "%d bytes after the body", len(rest)-int(h.Length))
	}
	return h, rest, nil
}

// frame prepends the header to body.
func frame(p Profile, t Type, body []byte) ([]byte, error) {
	if len(body) > MaxBody {
		return nil, ferr(t.String(), "", ErrTooLarge, "body %d > %d", len(body), MaxBody)
	}
	out := make([]byte, HeaderSize, HeaderSize+len(body))
	out[0], out[1], out[2] = Version, byte(p), byte(t)
	binary.BigEndian.PutUint32(out[3:], uint32(len(body)))
	return append(out, body...), nil
}

// expect splits b and checks it is a message of type t.
func expect(b []byte, t Type) (Header, []byte, error) {
	h, body, err := Split(b)
	if err != nil {
		return Header{}, nil, err
	}
	if h.Type != t {
		return Header{}, nil, ferr(t.String(), "", ErrUnexpectedType, "got %s", h.Type)
	}
	return h, body, nil
}
