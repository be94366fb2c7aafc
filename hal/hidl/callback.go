package hidl

import "fmt"

// Callback is one IBiometricsFingerprintClientCallback call: one of
// OnEnrollResult, OnAcquired, OnAuthenticated, OnError, OnRemoved,
// OnEnumerate. Every call carries the deviceId setNotify returned.
type Callback interface {
	// Device returns the deviceId argument of the call.
	Device() uint64
	fmt.Stringer
	callback()
}

// OnEnrollResult is onEnrollResult(deviceId, fingerId, groupId, remaining):
// enrollment progress; Remaining == 0 means the template is stored.
type OnEnrollResult struct {
	DeviceID  uint64
	FingerID  uint32
	GroupID   uint32
	Remaining uint32
}

// OnAcquired is onAcquired(deviceId, acquiredInfo, vendorCode).
type OnAcquired struct {
	DeviceID     uint64
	AcquiredInfo FingerprintAcquiredInfo
	VendorCode   int32
}

// OnAuthenticated is onAuthenticated(deviceId, fingerId, groupId, token):
// FingerID ≠ 0 with the 69-byte hw_auth_token_t is a match; FingerID 0 with
// an empty token is a rejection (the authentication goes on).
type OnAuthenticated struct {
	DeviceID uint64
	FingerID uint32
	GroupID  uint32
	Token    []byte
}

// Rejected reports whether the call reports a finger that did not match.
func (c OnAuthenticated) Rejected() bool { return c.FingerID == 0 }

// OnError is onError(deviceId, error, vendorCode). It ends the operation in
// progress.
type OnError struct {
	DeviceID   uint64
	Error      FingerprintError
	VendorCode int32
}

// OnRemoved is onRemoved(deviceId, fingerId, groupId, remaining): one
// template removed; Remaining == 0 ends the removal.
type OnRemoved struct {
	DeviceID  uint64
	FingerID  uint32
	GroupID   uint32
	Remaining uint32
}

// OnEnumerate is onEnumerate(deviceId, fingerId, groupId, remaining): one
// enrolled template; with none enrolled a single call with FingerID 0 and
// Remaining 0.
type OnEnumerate struct {
	DeviceID  uint64
	FingerID  uint32
	GroupID   uint32
	Remaining uint32
}

func (c OnEnrollResult) Device() uint64  { return c.DeviceID }
func (c OnAcquired) Device() uint64      { return c.DeviceID }
func (c OnAuthenticated) Device() uint64 { return c.DeviceID }
func (c OnError) Device() uint64         { return c.DeviceID }
func (c OnRemoved) Device() uint64       { return c.DeviceID }
func (c OnEnumerate) Device() uint64     { return c.DeviceID }

func (OnEnrollResult) callback()  {}
func (OnAcquired) callback()      {}
func (OnAuthenticated) callback() {}
func (OnError) callback()         {}
func (OnRemoved) callback()       {}
func (OnEnumerate) callback()     {}

func (c OnEnrollResult) String() string {
	return fmt.Sprintf("onEnrollResult(fingerId=%d, groupId=%d, remaining=%d)", c.FingerID, c.GroupID, c.Remaining)
}

func (c OnAcquired) String() string {
	return fmt.Sprintf("onAcquired(%v, vendorCode=%d)", c.AcquiredInfo, c.VendorCode)
}

// String never prints the token's bytes, only its length.
func (c OnAuthenticated) String() string {
	return fmt.Sprintf("onAuthenticated(fingerId=%d, groupId=%d, token=%d bytes)", c.FingerID, c.GroupID, len(c.Token))
}

func (c OnError) String() string {
	return fmt.Sprintf("onError(%v, vendorCode=%d)", c.Error, c.VendorCode)
}

func (c OnRemoved) String() string {
	return fmt.Sprintf("onRemoved(fingerId=%d, groupId=%d, remaining=%d)", c.FingerID, c.GroupID, c.Remaining)
}

func (c OnEnumerate) String() string {
	return fmt.Sprintf("onEnumerate(fingerId=%d, groupId=%d, remaining=%d)", c.FingerID, c.GroupID, c.Remaining)
}

// Ends reports whether cb ends the operation it belongs to, as the
// framework's HIDL clients read the callbacks: onError; onEnrollResult with
// Remaining 0; a matching onAuthenticated (a rejection does not end
// authentication); onRemoved and onEnumerate with Remaining 0. OnAcquired
// never does.
func Ends(cb Callback) bool {
	switch c := cb.(type) {
	case OnError:
		return true
	case OnEnrollResult:
		return c.Remaining == 0
	case OnAuthenticated:
		return !c.Rejected()
	case OnRemoved:
		return c.Remaining == 0
	case OnEnumerate:
		return c.Remaining == 0
	}
	return false
}
