package halpb

import (
	"errors"
	"fmt"

	"github.com/fpemu/fpemu/hal/hidl"
)

// ErrNoCallback means a ClientCallback message carries none of the
// callbacks of its oneof (or one this version does not know).
var ErrNoCallback = errors.New("halpb: ClientCallback carries no callback")

// FromCallback returns the wire message of one client callback.
func FromCallback(cb hidl.Callback) (*ClientCallback, error) {
	m := &ClientCallback{DeviceId: cb.Device()}
	switch c := cb.(type) {
	case hidl.OnEnrollResult:
		m.Callback = &ClientCallback_OnEnrollResult{OnEnrollResult: &OnEnrollResult{FingerId: c.FingerID, GroupId: c.GroupID, Remaining: c.Remaining}}
	case hidl.OnAcquired:
		m.Callback = &ClientCallback_OnAcquired{OnAcquired: &OnAcquired{AcquiredInfo: FingerprintAcquiredInfo(c.AcquiredInfo), VendorCode: c.VendorCode}}
	case hidl.OnAuthenticated:
		m.Callback = &ClientCallback_OnAuthenticated{OnAuthenticated: &OnAuthenticated{FingerId: c.FingerID, GroupId: c.GroupID, Token: c.Token}}
	case hidl.OnError:
		m.Callback = &ClientCallback_OnError{OnError: &OnError{Error: FingerprintError(c.Error), VendorCode: c.VendorCode}}
	case hidl.OnRemoved:
		m.Callback = &ClientCallback_OnRemoved{OnRemoved: &OnRemoved{FingerId: c.FingerID, GroupId: c.GroupID, Remaining: c.Remaining}}
	case hidl.OnEnumerate:
		m.Callback = &ClientCallback_OnEnumerate{OnEnumerate: &OnEnumerate{FingerId: c.FingerID, GroupId: c.GroupID, Remaining: c.Remaining}}
	default:
		return nil, fmt.Errorf("halpb: unknown callback type %T", cb)
	}
	return m, nil
}

// Registered returns the first message of a SetNotify stream.
func Registered(deviceID uint64) *ClientCallback {
	return &ClientCallback{DeviceId: deviceID, Callback: &ClientCallback_NotifyRegistered{NotifyRegistered: &NotifyRegistered{}}}
}

// IsRegistered reports whether m is the notify_registered message.
func IsRegistered(m *ClientCallback) bool {
	_, ok := m.GetCallback().(*ClientCallback_NotifyRegistered)
	return ok
}

// ToCallback returns the client callback m carries. Values are passed
// through as sent — an enum value types.hal does not define, or a token
// of any length, reaches the caller unchanged so that a conformance check
// can see it — but a message without a callback (including
// notify_registered, which is not one) is ErrNoCallback.
func ToCallback(m *ClientCallback) (hidl.Callback, error) {
	id := m.GetDeviceId()
	switch c := m.GetCallback().(type) {
	case *ClientCallback_OnEnrollResult:
		if c.OnEnrollResult != nil {
			v := c.OnEnrollResult
			return hidl.OnEnrollResult{DeviceID: id, FingerID: v.FingerId, GroupID: v.GroupId, Remaining: v.Remaining}, nil
		}
	case *ClientCallback_OnAcquired:
		if c.OnAcquired != nil {
			v := c.OnAcquired
			return hidl.OnAcquired{DeviceID: id, AcquiredInfo: hidl.FingerprintAcquiredInfo(v.AcquiredInfo), VendorCode: v.VendorCode}, nil
		}
	case *ClientCallback_OnAuthenticated:
		if c.OnAuthenticated != nil {
			v := c.OnAuthenticated
			return hidl.OnAuthenticated{DeviceID: id, FingerID: v.FingerId, GroupID: v.GroupId, Token: v.Token}, nil
		}
	case *ClientCallback_OnError:
		if c.OnError != nil {
			v := c.OnError
			return hidl.OnError{DeviceID: id, Error: hidl.FingerprintError(v.Error), VendorCode: v.VendorCode}, nil
		}
	case *ClientCallback_OnRemoved:
		if c.OnRemoved != nil {
			v := c.OnRemoved
			return hidl.OnRemoved{DeviceID: id, FingerID: v.FingerId, GroupID: v.GroupId, Remaining: v.Remaining}, nil
		}
	case *ClientCallback_OnEnumerate:
		if c.OnEnumerate != nil {
			v := c.OnEnumerate
			return hidl.OnEnumerate{DeviceID: id, FingerID: v.FingerId, GroupID: v.GroupId, Remaining: v.Remaining}, nil
		}
	}
	return nil, ErrNoCallback
}
