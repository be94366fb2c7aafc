package hidl

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The conversions below are those of the default 2.1 wrapper,
// hardware/interfaces/biometrics/fingerprint/2.1/default/BiometricsFingerprint.cpp
// (ErrorFilter, VendorErrorFilter, VendorAcquiredFilter, notify).

func TestStatusFromErrno(t *testing.T) {
	tests := []struct {
		rc   int32
		want RequestStatus
	}{
		{0, SysOK}, {-2, SysENOENT}, {-4, SysEINTR}, {-5, SysEIO}, {-11, SysEAGAIN},
		{-12, SysENOMEM}, {-13, SysEACCES}, {-14, SysEFAULT}, {-16, SysEBUSY},
		{-22, SysEINVAL}, {-28, SysENOSPC}, {-110, SysETIMEDOUT},
		// Anything else, the "success-looking" 1 included, is SYS_UNKNOWN.
		{1, SysUnknown}, {-1, SysUnknown}, {-3, SysUnknown}, {5, SysUnknown}, {-111, SysUnknown},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, StatusFromErrno(tt.rc), "rc %d", tt.rc)
	}
}

func TestErrorFromLegacy(t *testing.T) {
	tests := []struct {
		code   int32
		want   FingerprintError
		vendor int32
	}{
		{1, ErrorHWUnavailable, 0}, {2, ErrorUnableToProcess, 0}, {3, ErrorTimeout, 0},
		{4, ErrorNoSpace, 0}, {5, ErrorCanceled, 0}, {6, ErrorUnableToRemove, 0}, {7, ErrorLockout, 0},
		{1000, ErrorVendor, 0}, {1001, ErrorVendor, 1}, {1234, ErrorVendor, 234},
		// Unknown: 0 (NO_ERROR is not an error message), 8–999, negatives.
		{0, ErrorUnableToProcess, 0}, {8, ErrorUnableToProcess, 0}, {9, ErrorUnableToProcess, 0},
		{999, ErrorUnableToProcess, 0}, {-1, ErrorUnableToProcess, 0},
	}
	for _, tt := range tests {
		e, v := ErrorFromLegacy(tt.code)
		assert.Equal(t, tt.want, e, "code %d", tt.code)
		assert.Equal(t, tt.vendor, v, "code %d", tt.code)
	}
}

func TestAcquiredFromLegacy(t *testing.T) {
	tests := []struct {
		code   int32
		want   FingerprintAcquiredInfo
		vendor int32
	}{
		{0, AcquiredGood, 0}, {1, AcquiredPartial, 0}, {2, AcquiredInsufficient, 0},
		{3, AcquiredImagerDirty, 0}, {4, AcquiredTooSlow, 0}, {5, AcquiredTooFast, 0},
		{LegacyAcquiredDetected, AcquiredInsufficient, 0}, // no 2.1 counterpart
		{1000, AcquiredVendor, 0}, {1042, AcquiredVendor, 42},
		{7, AcquiredInsufficient, 0}, {999, AcquiredInsufficient, 0}, {-5, AcquiredInsufficient, 0},
	}
	for _, tt := range tests {
		a, v := AcquiredFromLegacy(tt.code)
		assert.Equal(t, tt.want, a, "code %d", tt.code)
		assert.Equal(t, tt.vendor, v, "code %d", tt.code)
	}
}

func TestCallbackFromMsg(t *testing.T) {
	const dev = 0xD1
	hat := make([]byte, HATSize)
	hat[0] = 0 // version
	hat[10] = 1
	f := FingerID{GID: 99, FID: 4}
	tests := []struct {
		name string
		msg  Msg
		want Callback
	}{
		{"error", Msg{Type: MsgError, Code: 5}, OnError{DeviceID: dev, Error: ErrorCanceled}},
		{"vendor error", Msg{Type: MsgError, Code: 1003}, OnError{DeviceID: dev, Error: ErrorVendor, VendorCode: 3}},
		{"acquired", Msg{Type: MsgAcquired, Code: 3}, OnAcquired{DeviceID: dev, AcquiredInfo: AcquiredImagerDirty}},
		{"acquired detected", Msg{Type: MsgAcquired, Code: 6}, OnAcquired{DeviceID: dev, AcquiredInfo: AcquiredInsufficient}},
		{"enrolling", Msg{Type: MsgTemplateEnrolling, Finger: f, Remaining: 3}, OnEnrollResult{DeviceID: dev, FingerID: 4, GroupID: 99, Remaining: 3}},
		{"removed", Msg{Type: MsgTemplateRemoved, Finger: f, Remaining: 1}, OnRemoved{DeviceID: dev, FingerID: 4, GroupID: 99, Remaining: 1}},
		{"enumerating", Msg{Type: MsgTemplateEnumerating, Finger: f}, OnEnumerate{DeviceID: dev, FingerID: 4, GroupID: 99}},
		{"match", Msg{Type: MsgAuthenticated, Finger: f, HAT: hat}, OnAuthenticated{DeviceID: dev, FingerID: 4, GroupID: 99, Token: hat}},
		// fid 0 is a rejection: the token is empty whatever the message held.
		{"rejection", Msg{Type: MsgAuthenticated, Finger: FingerID{GID: 99}, HAT: hat}, OnAuthenticated{DeviceID: dev, GroupID: 99}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cb, ok := CallbackFromMsg(dev, tt.msg)
			assert.True(t, ok)
			assert.Equal(t, tt.want, cb)
			assert.Equal(t, uint64(dev), cb.Device())
		})
	}
	for _, typ := range []MsgType{0, 2, 7, -2} {
		_, ok := CallbackFromMsg(dev, Msg{Type: typ})
		assert.False(t, ok, "type %d is dropped", typ)
	}
	// The token is a copy.
	cb, _ := CallbackFromMsg(dev, Msg{Type: MsgAuthenticated, Finger: f, HAT: hat})
	hat[10] = 2
	assert.Equal(t, byte(1), cb.(OnAuthenticated).Token[10])
}

func TestEnds(t *testing.T) {
	tests := []struct {
		cb   Callback
		ends bool
	}{
		{OnError{Error: ErrorCanceled}, true},
		{OnAcquired{}, false},
		{OnEnrollResult{Remaining: 1}, false},
		{OnEnrollResult{Remaining: 0}, true},
		{OnAuthenticated{FingerID: 0}, false},
		{OnAuthenticated{FingerID: 2, Token: make([]byte, HATSize)}, true},
		{OnRemoved{Remaining: 2}, false},
		{OnRemoved{}, true},
		{OnEnumerate{Remaining: 1}, false},
		{OnEnumerate{}, true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.ends, Ends(tt.cb), "%v", tt.cb)
	}
}

func TestStrings(t *testing.T) {
	assert.Equal(t, "SYS_EBUSY", SysEBUSY.String())
	assert.Equal(t, "RequestStatus(-3)", RequestStatus(-3).String())
	assert.Equal(t, "ERROR_LOCKOUT", ErrorLockout.String())
	assert.Equal(t, "FingerprintError(9)", FingerprintError(9).String())
	assert.Equal(t, "ACQUIRED_VENDOR", AcquiredVendor.String())
	assert.Equal(t, "FingerprintAcquiredInfo(7)", FingerprintAcquiredInfo(7).String())
	assert.Equal(t, "FINGERPRINT_TEMPLATE_ENUMERATING", MsgTemplateEnumerating.String())
	assert.Equal(t, "fingerprint_msg_type(2)", MsgType(2).String())
	// A token is never printed, only its length.
	s := OnAuthenticated{FingerID: 1, GroupID: 2, Token: []byte{0xAB, 0xCD}}.String()
	assert.Equal(t, "onAuthenticated(fingerId=1, groupId=2, token=2 bytes)", s)
	assert.Equal(t, "onError(ERROR_VENDOR, vendorCode=3)", OnError{Error: ErrorVendor, VendorCode: 3}.String())
}
