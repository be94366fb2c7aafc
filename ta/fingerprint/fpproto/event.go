package fpproto

import (
	"errors"
	"fmt"
	"time"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tokens"
)

// Event is one fingerprint_msg_t: what the legacy HAL's notify callback
// receives, and what the REE HAL turns into one IBiometricsFingerprint
// ClientCallback call. NEXT_EVENT returns events one at a time, in the order
// the TA produced them.
//
// Fields by Type (others are zero):
//
//	NONE                  –
//	ERROR                 Error, VendorCode, Detail
//	ACQUIRED              Acquired, VendorCode
//	TEMPLATE_ENROLLING    FingerID, GroupID, Remaining (samples_remaining)
//	TEMPLATE_REMOVED      FingerID, GroupID, Remaining (still to remove in this request)
//	AUTHENTICATED         FingerID, GroupID, HAT (69 bytes on a match; FingerID 0
//	                      and no HAT on a rejection, HIDL 2.1)
//	TEMPLATE_ENUMERATING  FingerID, GroupID, Remaining (still to enumerate)
//
// Detail, for ERROR only: with ERROR_LOCKOUT the milliseconds left in the
// timed lockout; otherwise a Reason (0 when none applies).
type Event struct {
	Type       MsgType
	Error      Error
	Acquired   AcquiredInfo
	VendorCode int32
	FingerID   uint32
	GroupID    uint32
	Remaining  uint32
	Detail     uint32
	HAT        []byte
}

// String describes the event (the HAT only by length).
func (e Event) String() string {
	switch e.Type {
	case MsgNone:
		return "NONE"
	case MsgError:
		return fmt.Sprintf("ERROR(%v, vendor %d, detail %d)", e.Error, e.VendorCode, e.Detail)
	case MsgAcquired:
		return fmt.Sprintf("ACQUIRED(%v, vendor %d)", e.Acquired, e.VendorCode)
	case MsgAuthenticated:
		return fmt.Sprintf("AUTHENTICATED(fid %d, gid %d, hat %d bytes)", e.FingerID, e.GroupID, len(e.HAT))
	}
	return fmt.Sprintf("%v(fid %d, gid %d, remaining %d)", e.Type, e.FingerID, e.GroupID, e.Remaining)
}

// Reason returns Detail as a Reason (meaningful for ERROR events other than
// ERROR_LOCKOUT).
func (e Event) Reason() Reason { return Reason(e.Detail) }

// LockoutRemaining returns, for an ERROR_LOCKOUT event, how long the timed
// lockout still lasts.
func (e Event) LockoutRemaining() time.Duration {
	if e.Type != MsgError || e.Error != ErrorLockout {
		return 0
	}
	return time.Duration(e.Detail) * time.Millisecond
}

// Constructors of the events a TA emits (what the fields of each Type are:
// Event).

// ErrorEvent is ERROR(code) with a vendor code (ERROR_VENDOR) and a detail
// (a Reason, or the lockout's remaining milliseconds with ERROR_LOCKOUT).
func ErrorEvent(code Error, vendor int32, detail uint32) Event {
	return Event{Type: MsgError, Error: code, VendorCode: vendor, Detail: detail}
}

// AcquiredEvent is ACQUIRED(info) with a vendor code (ACQUIRED_VENDOR).
func AcquiredEvent(info AcquiredInfo, vendor int32) Event {
	return Event{Type: MsgAcquired, Acquired: info, VendorCode: vendor}
}

// FingerEvent is an event of type t about finger fid of group gid:
// TEMPLATE_ENROLLING, TEMPLATE_REMOVED, TEMPLATE_ENUMERATING (with
// remaining) or AUTHENTICATED (remaining 0; the HAT is set by the caller).
func FingerEvent(t MsgType, fid, gid, remaining uint32) Event {
	return Event{Type: t, FingerID: fid, GroupID: gid, Remaining: remaining}
}

// hatSize is the size of the HAT an AUTHENTICATED event carries.
const hatSize = tokens.Size

// ErrEvent is wrapped by DecodeEvent for NEXT_EVENT outputs that break the
// protocol.
var ErrEvent = errors.New("fingerprint: malformed event")

// PutEvent writes e into NEXT_EVENT's output parameters, with queued, the
// number of events still queued after it, in p0.b (docs/protocol.md §9.4).
// It is DecodeEvent's inverse: the TA side of the codec.
func PutEvent(p *tee.Params, e Event, queued uint32) {
	p.SetValue(0, uint32(e.Type), queued)
	var a, b uint32
	switch e.Type {
	case MsgError:
		a, b = uint32(e.Error), uint32(e.VendorCode)
	case MsgAcquired:
		a, b = uint32(e.Acquired), uint32(e.VendorCode)
	case MsgTemplateEnrolling, MsgTemplateRemoved, MsgAuthenticated, MsgTemplateEnumerating:
		a, b = e.FingerID, e.GroupID
	}
	p.SetValue(1, a, b)
	p.SetValue(2, e.Remaining, e.Detail)
	p.SetOutput(3, e.HAT)
}

// DecodeEvent reads an event from NEXT_EVENT's output parameters, strictly:
// a known message type; for AUTHENTICATED a HAT of exactly 69 bytes with a
// non-zero finger id and none with finger id 0; no HAT with any other type;
// zero in every field the type does not use. Anything else is an error
// wrapping ErrEvent and no event.
func DecodeEvent(p *tee.Params) (Event, error) {
	e := Event{Type: MsgType(int32(p[0].A))}
	a, b := p[1].A, p[1].B
	remaining, detail := p[2].A, p[2].B
	hat := p[3].Data
	if p[3].Type == tee.ParamNone {
		hat = nil
	}
	bad := func(format string, args ...any) (Event, error) {
		return Event{}, fmt.Errorf("%w: %s: %s", ErrEvent, e.Type, fmt.Sprintf(format, args...))
	}
	if len(hat) != 0 && e.Type != MsgAuthenticated {
		return bad("%d HAT bytes", len(hat))
	}
	if detail != 0 && e.Type != MsgError {
		return bad("detail %d", detail)
	}
	switch e.Type {
	case MsgNone:
		if a != 0 || b != 0 || remaining != 0 {
			return bad("non-zero fields")
		}
	case MsgError:
		e.Error, e.VendorCode, e.Detail = Error(int32(a)), int32(b), detail
		if remaining != 0 {
			return bad("remaining %d", remaining)
		}
	case MsgAcquired:
		e.Acquired, e.VendorCode = AcquiredInfo(int32(a)), int32(b)
		if remaining != 0 {
			return bad("remaining %d", remaining)
		}
	case MsgTemplateEnrolling, MsgTemplateRemoved, MsgTemplateEnumerating:
		e.FingerID, e.GroupID, e.Remaining = a, b, remaining
	case MsgAuthenticated:
		e.FingerID, e.GroupID = a, b
		if remaining != 0 {
			return bad("remaining %d", remaining)
		}
		switch {
		case e.FingerID != 0 && len(hat) != hatSize:
			return bad("match with a %d-byte HAT", len(hat))
		case e.FingerID == 0 && len(hat) != 0:
			return bad("rejection with a HAT")
		}
		if len(hat) > 0 {
			e.HAT = append([]byte(nil), hat...)
		}
	default:
		return bad("unknown message type")
	}
	return e, nil
}
