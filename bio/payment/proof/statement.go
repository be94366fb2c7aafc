package proof

import (
	"encoding/binary"
	"fmt"
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
}

// Marshal returns the canonical body bytes of s, or ErrMalformed.
func (s Statement) Marshal() ([]byte, error) {
	if err := checkNames(KindPayment, s.AppID, s.Scene); err != nil {
		return nil, err
	}
	if s.FingerID == 0 {
		return nil, fmt.Errorf("%w: statement with finger_id 0", ErrMalformed)
	}
	b := make([]byte, 0, statementFixed+4+len(s.AppID)+len(s.Scene))
	b = append(b, Version, byte(KindPayment))
	b = append(b, s.DeviceID[:]...)
	b = binary.BigEndian.AppendUint64(b, s.Counter)
	b = binary.BigEndian.AppendUint64(b, s.Challenge)
	b = append(b, s.PayloadHash[:]...)
	b = binary.BigEndian.AppendUint32(b, s.FingerID)
	b = binary.BigEndian.AppendUint32(b, s.GroupID)
	b = binary.BigEndian.AppendUint32(b, s.TAVersion)
	b = binary.BigEndian.AppendUint32(b, s.SensorVersion)
	b = appendName(b, s.AppID)
	return appendName(b, s.Scene), nil
}

// ParseStatement decodes a statement body strictly. On error it returns
// the zero Statement and an error wrapping ErrMalformed.
func ParseStatement(b []byte) (Statement, error) {
	if len(b) > MaxStatementSize {
		return Statement{}, fmt.Errorf("%w: statement of %d bytes, max %d", ErrMalformed, len(b), MaxStatementSize)
	}
	r := reader{b: b}
	v, k := r.u8(), Kind(r.u8())
	if !r.bad && (v != Version || k != KindPayment) {
		return Statement{}, fmt.Errorf("%w: statement version %d kind %s", ErrMalformed, v, k)
	}
	var s Statement
	copy(s.DeviceID[:], r.take(DeviceIDSize))
	s.Counter = r.u64()
	s.Challenge = r.u64()
	copy(s.PayloadHash[:], r.take(HashSize))
	s.FingerID = r.u32()
	s.GroupID = r.u32()
	s.TAVersion = r.u32()
	s.SensorVersion = r.u32()
	s.AppID = r.name(MaxAppIDLen)
	s.Scene = r.name(MaxSceneLen)
	if !r.done() {
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
