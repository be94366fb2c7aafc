package fingerprint

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Sealed record formats of the TA's store (the plaintexts inside tee/store
// sealed values; docs/protocol.md §9). Every integer is big-endian, every
// record starts with version 1, and parsing is strict: exact length, no
// trailing bytes, no partial result.
//
//	template  0x01 ‖ u64 sid ‖ u8 n ‖ matcher name (n bytes, 1..64)
//	          ‖ u32 m ‖ template (m bytes, 1..MaxTemplateBytes)
//	group     0x01 ‖ u64 authenticator_id (≠ 0)
//	lockout   0x01 ‖ u32 failed ‖ u64 timed_until_ms ‖ u8 n ‖ boot id (n bytes, 1..64)

// ErrRecord is wrapped by the record parsers for bytes that are not a
// canonical version-1 record.
var ErrRecord = errors.New("fingerprint: malformed stored record")

const (
	recordVersion = 1
	// MaxTemplateBytes bounds a stored template (the reference matcher's
	// largest is about 2.4 KiB).
	MaxTemplateBytes = 64 << 10
	maxNameLen       = 64
	maxBootIDLen     = 64
)

// templateRecord is a stored template and the SID bound to it.
type templateRecord struct {
	SID      uint64 // the enroll HAT's user_id
	Matcher  string // Matcher.Name() of the template's format
	Template []byte // Template.MarshalBinary()
}

func (r templateRecord) marshal() ([]byte, error) {
	if len(r.Matcher) == 0 || len(r.Matcher) > maxNameLen || len(r.Template) == 0 || len(r.Template) > MaxTemplateBytes {
		return nil, fmt.Errorf("%w: template record with a %d-byte name and a %d-byte template", ErrRecord, len(r.Matcher), len(r.Template))
	}
	b := make([]byte, 0, 1+8+1+len(r.Matcher)+4+len(r.Template))
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, r.SID)
	b = append(b, byte(len(r.Matcher)))
	b = append(b, r.Matcher...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Template)))
	return append(b, r.Template...), nil
}

func parseTemplateRecord(b []byte) (templateRecord, error) {
	bad := func(why string) (templateRecord, error) {
		return templateRecord{}, fmt.Errorf("%w: template: %s", ErrRecord, why)
	}
	if len(b) < 1+8+1 || b[0] != recordVersion {
		return bad("short or wrong version")
	}
	sid := binary.BigEndian.Uint64(b[1:])
	n := int(b[9])
	rest := b[10:]
	if n == 0 || n > maxNameLen || len(rest) < n+4 {
		return bad("name length")
	}
	name := string(rest[:n])
	rest = rest[n:]
	m := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if m == 0 || m > MaxTemplateBytes || uint64(len(rest)) != uint64(m) {
		return bad("template length")
	}
	return templateRecord{SID: sid, Matcher: name, Template: append([]byte(nil), rest...)}, nil
}

// groupRecord is the per-group state: its authenticator id. A group row
// exists only while the group has templates, so the id is never 0.
type groupRecord struct {
	AuthenticatorID uint64
}

const groupRecordSize = 1 + 8

func (r groupRecord) marshal() []byte {
	b := make([]byte, groupRecordSize)
	b[0] = recordVersion
	binary.BigEndian.PutUint64(b[1:], r.AuthenticatorID)
	return b
}

func parseGroupRecord(b []byte) (groupRecord, error) {
	if len(b) != groupRecordSize || b[0] != recordVersion {
		return groupRecord{}, fmt.Errorf("%w: group: %d bytes", ErrRecord, len(b))
	}
	r := groupRecord{AuthenticatorID: binary.BigEndian.Uint64(b[1:])}
	if r.AuthenticatorID == 0 {
		return groupRecord{}, fmt.Errorf("%w: group: zero authenticator id", ErrRecord)
	}
	return r, nil
}

func (l Lockout) marshal() ([]byte, error) {
	if len(l.BootID) == 0 || len(l.BootID) > maxBootIDLen {
		return nil, fmt.Errorf("%w: lockout with a %d-byte boot id", ErrRecord, len(l.BootID))
	}
	b := make([]byte, 0, 1+4+8+1+len(l.BootID))
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint32(b, l.Failed)
	b = binary.BigEndian.AppendUint64(b, l.TimedUntilMs)
	b = append(b, byte(len(l.BootID)))
	return append(b, l.BootID...), nil
}

func parseLockout(b []byte) (Lockout, error) {
	const fixed = 1 + 4 + 8 + 1
	if len(b) < fixed || b[0] != recordVersion {
		return Lockout{}, fmt.Errorf("%w: lockout: short or wrong version", ErrRecord)
	}
	n := int(b[13])
	if n == 0 || n > maxBootIDLen || len(b) != fixed+n {
		return Lockout{}, fmt.Errorf("%w: lockout: %d bytes with a %d-byte boot id", ErrRecord, len(b), n)
	}
	return Lockout{
		Failed:       binary.BigEndian.Uint32(b[1:]),
		TimedUntilMs: binary.BigEndian.Uint64(b[5:]),
		BootID:       append([]byte(nil), b[fixed:]...),
	}, nil
}
