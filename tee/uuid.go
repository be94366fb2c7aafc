package tee

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// UUID identifies a trusted application. Its 16 bytes are the big-endian
// encoding of the GlobalPlatform TEEC_UUID {timeLow, timeMid,
// timeHiAndVersion, clockSeqAndNode[8]} (GPD_SPE_007 §4.3.4), which is also
// the RFC 4122 byte order, so String and ParseUUID round-trip with the
// canonical 8-4-4-4-12 text form.
type UUID [16]byte

// ErrBadUUID is returned (wrapped) by ParseUUID for text that is not a
// canonical 36-character UUID.
var ErrBadUUID = errors.New("tee: malformed UUID")

// String returns the canonical lower-case 8-4-4-4-12 form.
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}

// IsZero reports whether u is the all-zero UUID, which names no TA.
func (u UUID) IsZero() bool { return u == UUID{} }

// ParseUUID parses the canonical 36-character form (either case).
func ParseUUID(s string) (UUID, error) {
	var u UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return UUID{}, fmt.Errorf("%w: %q is not 8-4-4-4-12", ErrBadUUID, s)
	}
	spans := [][2]int{{0, 8}, {9, 13}, {14, 18}, {19, 23}, {24, 36}}
	o := 0
	for _, sp := range spans {
		n, err := hex.Decode(u[o:], []byte(s[sp[0]:sp[1]]))
		if err != nil {
			return UUID{}, fmt.Errorf("%w: %q: %v", ErrBadUUID, s, err)
		}
		o += n
	}
	return u, nil
}

// MustParseUUID is ParseUUID for package-level constants; it panics on a
// malformed literal, which is a programming error caught at init.
func MustParseUUID(s string) UUID {
	u, err := ParseUUID(s)
	if err != nil {
		panic(err)
	}
	return u
}
