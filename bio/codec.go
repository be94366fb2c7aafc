package bio

import (
	"encoding/binary"
	"fmt"
)

// Version is the only message version this package emits or accepts.
const Version uint8 = 1

// Message sizes of version 1.
const (
	// AuthResultSize is the exact length of an encoded AuthResult:
	// version(1) result(4) user_id(8) authenticator_id(8) group_id(4)
	// finger_id(4) sensor_version(4) transaction_id(8) timestamp_ms(8).
	AuthResultSize = 1 + 4 + 8 + 8 + 4 + 4 + 4 + 8 + 8
	// FingerListHeaderSize is the length of an encoded FingerList with no
	// fingers: version(1) group_id(4) authenticator_id(8) timestamp_ms(8)
	// count(4).
	FingerListHeaderSize = 1 + 4 + 8 + 8 + 4
	// MaxFingers bounds a finger list. The fingerprint TA keeps at most 5
	// fingers per group (AOSP's per-user limit, AOSP); the
	// bound leaves room for vendors with more, and keeps a list far below
	// envelope.MaxPayload.
	MaxFingers = 32
	// MaxFingerListSize is the length of the largest well-formed list.
	MaxFingerListSize = FingerListHeaderSize + 4*MaxFingers
)

// ResultSuccess is the Result of a match (AOSP style: 0 is success). Any
// other value is a failure: a rejected finger, a timeout, a hardware error.
const ResultSuccess uint32 = 0

// AuthResult is the outcome of one fingerprint authenticate, as the QSEE
// bio_result of bio_set_auth_result carries it (method fingerprint
// matching, result, user_entity_id = finger id, transaction_id = the
// authenticate operation_id), extended with what the payment TA needs to
// bind a payment key to the enrolled set.
type AuthResult struct {
	// Result is 0 (ResultSuccess) for a match; anything else is a failure.
	Result uint32
	// UserID is the secure user id (SID) bound to the matched template:
	// the user_id of the HAT the fingerprint TA minted for this match.
	UserID uint64
	// AuthenticatorID is the group's authenticator id at the time of the
	// match (changes on every new enrollment).
	AuthenticatorID uint64
	// GroupID is the fingerprint group (Android user) matched against.
	GroupID uint32
	// FingerID is the matched finger; 0 on failure (HIDL 2.1
	// onAuthenticated(fid 0) semantics) and never 0 on success.
	FingerID uint32
	// SensorVersion identifies the sensor and matcher that produced the
	// result (vendor-defined; the payment TA copies it into its signed
	// statement, as SOTER and IFAA report device and sensor versions).
	SensorVersion uint32
	// TransactionID is the operation_id of the authenticate call — the
	// challenge of the HAT and, for payments, the server's challenge.
	TransactionID uint64
	// TimestampMs is the boot clock (ms since boot) at the match.
	TimestampMs uint64
}

// Success reports whether r is a match.
func (r AuthResult) Success() bool { return r.Result == ResultSuccess }

func (r AuthResult) check() error {
	switch {
	case r.Result == ResultSuccess && r.FingerID == 0:
		return fmt.Errorf("%w: auth result: success with finger_id 0", ErrMalformed)
	case r.Result != ResultSuccess && r.FingerID != 0:
		return fmt.Errorf("%w: auth result: failure %d with non-zero finger_id", ErrMalformed, r.Result)
	}
	return nil
}

// Marshal returns the canonical bytes of r (big-endian, AuthResultSize
// bytes). A success without a finger id, or a failure with one, has no
// canonical encoding: ErrMalformed.
func (r AuthResult) Marshal() ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, AuthResultSize)
	b = append(b, Version)
	b = binary.BigEndian.AppendUint32(b, r.Result)
	b = binary.BigEndian.AppendUint64(b, r.UserID)
	b = binary.BigEndian.AppendUint64(b, r.AuthenticatorID)
	b = binary.BigEndian.AppendUint32(b, r.GroupID)
	b = binary.BigEndian.AppendUint32(b, r.FingerID)
	b = binary.BigEndian.AppendUint32(b, r.SensorVersion)
	b = binary.BigEndian.AppendUint64(b, r.TransactionID)
	b = binary.BigEndian.AppendUint64(b, r.TimestampMs)
	return b, nil
}

// ParseAuthResult decodes b strictly: exactly AuthResultSize bytes, version
// Version, and finger_id non-zero exactly when result is success. On error
// it returns the zero AuthResult and an error wrapping ErrMalformed.
func ParseAuthResult(b []byte) (AuthResult, error) {
	if len(b) != AuthResultSize {
		return AuthResult{}, fmt.Errorf("%w: auth result of %d bytes, want %d", ErrMalformed, len(b), AuthResultSize)
	}
	if b[0] != Version {
		return AuthResult{}, fmt.Errorf("%w: auth result version %d, want %d", ErrMalformed, b[0], Version)
	}
	r := AuthResult{
		Result:          binary.BigEndian.Uint32(b[1:5]),
		UserID:          binary.BigEndian.Uint64(b[5:13]),
		AuthenticatorID: binary.BigEndian.Uint64(b[13:21]),
		GroupID:         binary.BigEndian.Uint32(b[21:25]),
		FingerID:        binary.BigEndian.Uint32(b[25:29]),
		SensorVersion:   binary.BigEndian.Uint32(b[29:33]),
		TransactionID:   binary.BigEndian.Uint64(b[33:41]),
		TimestampMs:     binary.BigEndian.Uint64(b[41:49]),
	}
	if err := r.check(); err != nil {
		return AuthResult{}, err
	}
	return r, nil
}

// FingerList is the enrolled set of one group, pushed to the payment TA at
// start-up and after every enroll and remove — the "fingerprint list"
// interface of Qualcomm QSEE's bio library. A payment key is bound to the list current at its
// creation; a different list invalidates it.
type FingerList struct {
	// GroupID is the fingerprint group (Android user).
	GroupID uint32
	// AuthenticatorID is the group's authenticator id (0 with nothing
	// enrolled).
	AuthenticatorID uint64
	// FingerIDs are the enrolled fingers: non-zero, strictly increasing
	// (sorted, no duplicates), at most MaxFingers. Empty when none.
	FingerIDs []uint32
	// TimestampMs is the boot clock (ms since boot) when the list was
	// taken.
	TimestampMs uint64
}

func (l FingerList) check() error {
	if len(l.FingerIDs) > MaxFingers {
		return fmt.Errorf("%w: finger list of %d fingers, max %d", ErrMalformed, len(l.FingerIDs), MaxFingers)
	}
	var prev uint32
	for i, f := range l.FingerIDs {
		if f == 0 {
			return fmt.Errorf("%w: finger list: finger_id 0 at index %d", ErrMalformed, i)
		}
		if i > 0 && f <= prev {
			return fmt.Errorf("%w: finger list: finger ids not strictly increasing at index %d", ErrMalformed, i)
		}
		prev = f
	}
	return nil
}

// Marshal returns the canonical bytes of l. Finger ids must already be
// strictly increasing and non-zero (Sender sorts them for the caller);
// otherwise ErrMalformed.
func (l FingerList) Marshal() ([]byte, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, FingerListHeaderSize+4*len(l.FingerIDs))
	b = append(b, Version)
	b = binary.BigEndian.AppendUint32(b, l.GroupID)
	b = binary.BigEndian.AppendUint64(b, l.AuthenticatorID)
	b = binary.BigEndian.AppendUint64(b, l.TimestampMs)
	b = binary.BigEndian.AppendUint32(b, uint32(len(l.FingerIDs)))
	for _, f := range l.FingerIDs {
		b = binary.BigEndian.AppendUint32(b, f)
	}
	return b, nil
}

// ParseFingerList decodes b strictly: version Version, count at most
// MaxFingers, exactly 4·count bytes of finger ids after the header (no
// trailing bytes), ids non-zero and strictly increasing. On error it
// returns the zero FingerList and an error wrapping ErrMalformed. An empty
// list decodes with a nil FingerIDs.
func ParseFingerList(b []byte) (FingerList, error) {
	if len(b) < FingerListHeaderSize {
		return FingerList{}, fmt.Errorf("%w: finger list of %d bytes, shorter than the %d-byte header", ErrMalformed, len(b), FingerListHeaderSize)
	}
	if b[0] != Version {
		return FingerList{}, fmt.Errorf("%w: finger list version %d, want %d", ErrMalformed, b[0], Version)
	}
	n := binary.BigEndian.Uint32(b[21:25])
	if n > MaxFingers {
		return FingerList{}, fmt.Errorf("%w: finger list count %d, max %d", ErrMalformed, n, MaxFingers)
	}
	if want := FingerListHeaderSize + 4*int(n); len(b) != want {
		return FingerList{}, fmt.Errorf("%w: finger list of %d bytes, count says %d", ErrMalformed, len(b), want)
	}
	l := FingerList{
		GroupID:         binary.BigEndian.Uint32(b[1:5]),
		AuthenticatorID: binary.BigEndian.Uint64(b[5:13]),
		TimestampMs:     binary.BigEndian.Uint64(b[13:21]),
	}
	if n > 0 {
		l.FingerIDs = make([]uint32, n)
		for i := range l.FingerIDs {
			o := FingerListHeaderSize + 4*i
			l.FingerIDs[i] = binary.BigEndian.Uint32(b[o : o+4])
		}
	}
	if err := l.check(); err != nil {
		return FingerList{}, err
	}
	return l, nil
}
