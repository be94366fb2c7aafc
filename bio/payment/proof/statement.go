package proof

import (
	"encoding/binary"
	"fmt"

	"github.com/fpemu/fpemu/internal/cursor"
)

// Statement is the body of a signed payment (version 1): what the scene
// key signs after a fresh fingerprint match whose transaction id equals
// Challenge. Layout, big-endian:
//
//	0    1   version 0x01
//	1    1   kind 4 (payment)
//	2    16  device_id
//	18   8   counter          strictly increasing per device, persisted
//	26   8   challenge        the server's challenge = authenticate operation_id
//	34   32  payload_hash     SM3(payload)
//	66   4   finger_id        the matched finger
//	70   4   group_id
//	74   4   ta_version
//	78   4   sensor_version
//	82   2+a app_id           u16 length + bytes, 1..128
//	     2+s scene            u16 length + bytes, 1..64
//
// Version 2 (docs/protocol.md §8.8) is version 1 with version byte 0x02
// and one more byte after scene:
//
//	1   flags            StatementFlags, non-zero, known bits only
//
// Marshal writes version 1 when Flags is zero and version 2 otherwise, so
// a statement without flags has exactly its version-1 bytes and every
// version-1 statement parses and verifies as before.
type Statement struct {
	DeviceID      DeviceID
	Counter       uint64
	Challenge     uint64
	PayloadHash   [HashSize]byte
	FingerID      uint32
	GroupID       uint32
	TAVersion     uint32
	SensorVersion uint32
	AppID         string
	Scene         string
	// Flags are the TA's further attestations about this signature
	// (version 2; zero in version 1).
	Flags StatementFlags
}

// StatementVersion2 is the version byte of a statement with flags.
const StatementVersion2 uint8 = 2

// StatementFlags are what the payment TA vouches for beyond the
// fingerprint match, inside the signed statement.
type StatementFlags uint8

// Statement flags.
const (
	// FlagPassword: the TA verified a Gatekeeper PASSWORD hw_auth_token_t
	// (AOSP hw_auth_token.h) whose HMAC checked under the device's
	// auth-token key and whose challenge is this statement's Challenge —
	// the device password factor of seed 003, checked the way Keymaster
	// checks a per-operation token (the challenge is the operation).
	FlagPassword StatementFlags = 1 << 0

	knownFlags = FlagPassword
)

// Has reports whether f has every bit of g.
func (f StatementFlags) Has(g StatementFlags) bool { return f&g == g }

// Marshal returns the canonical body bytes of s, or ErrMalformed.
func (s Statement) Marshal() ([]byte, error) {
	if err := checkNames(KindPayment, s.AppID, s.Scene); err != nil {
		return nil, err
	}
	if s.FingerID == 0 {
		return nil, fmt.Errorf("%w: statement with finger_id 0", ErrMalformed)
	}
	if s.Flags&^knownFlags != 0 {
		return nil, fmt.Errorf("%w: statement flags %#x", ErrMalformed, uint8(s.Flags))
	}
	v := Version
	if s.Flags != 0 {
		v = StatementVersion2
	}
	b := make([]byte, 0, statementFixed+5+len(s.AppID)+len(s.Scene))
	b = append(b, v, byte(KindPayment))
	b = append(b, s.DeviceID[:]...)
	b = binary.BigEndian.AppendUint64(b, s.Counter)
	b = binary.BigEndian.AppendUint64(b, s.Challenge)
	b = append(b, s.PayloadHash[:]...)
	b = binary.BigEndian.AppendUint32(b, s.FingerID)
	b = binary.BigEndian.AppendUint32(b, s.GroupID)
	b = binary.BigEndian.AppendUint32(b, s.TAVersion)
	b = binary.BigEndian.AppendUint32(b, s.SensorVersion)
	b = appendName(b, s.AppID)
	b = appendName(b, s.Scene)
	if v == StatementVersion2 {
		b = append(b, byte(s.Flags))
	}
	return b, nil
}

// ParseStatement decodes a statement body strictly. On error it returns
// the zero Statement and an error wrapping ErrMalformed.
func ParseStatement(b []byte) (Statement, error) {
	if len(b) > MaxStatementSize {
		return Statement{}, fmt.Errorf("%w: statement of %d bytes, max %d", ErrMalformed, len(b), MaxStatementSize)
	}
	r := cursor.New(b)
	v, k := r.U8(), Kind(r.U8())
	if !r.Bad() && ((v != Version && v != StatementVersion2) || k != KindPayment) {
		return Statement{}, fmt.Errorf("%w: statement version %d kind %s", ErrMalformed, v, k)
	}
	var s Statement
	copy(s.DeviceID[:], r.Take(DeviceIDSize))
	s.Counter = r.U64()
	s.Challenge = r.U64()
	copy(s.PayloadHash[:], r.Take(HashSize))
	s.FingerID = r.U32()
	s.GroupID = r.U32()
	s.TAVersion = r.U32()
	s.SensorVersion = r.U32()
	s.AppID = string(r.Field16(0, MaxAppIDLen))
	s.Scene = string(r.Field16(0, MaxSceneLen))
	if v == StatementVersion2 {
		// Canonical: a version-2 statement has a flag, and only known ones.
		s.Flags = StatementFlags(r.U8())
		if !r.Bad() && (s.Flags == 0 || s.Flags&^knownFlags != 0) {
			return Statement{}, fmt.Errorf("%w: statement flags %#x", ErrMalformed, uint8(s.Flags))
		}
	}
	if !r.Done() {
		return Statement{}, fmt.Errorf("%w: statement of %d bytes: truncated, over-long field or trailing bytes", ErrMalformed, len(b))
	}
	if err := checkNames(KindPayment, s.AppID, s.Scene); err != nil {
		return Statement{}, err
	}
	if s.FingerID == 0 {
		return Statement{}, fmt.Errorf("%w: statement with finger_id 0", ErrMalformed)
	}
	return s, nil
}
