package hidl

import "fmt"

// MsgType is fingerprint.h fingerprint_msg_type_t: the kind of a legacy
// notify message (types.hal FingerprintMsgType has the same values).
type MsgType int32

// fingerprint_msg_type_t values.
const (
	MsgError               MsgType = -1 // FINGERPRINT_ERROR
	MsgAcquired            MsgType = 1  // FINGERPRINT_ACQUIRED
	MsgTemplateEnrolling   MsgType = 3  // FINGERPRINT_TEMPLATE_ENROLLING
	MsgTemplateRemoved     MsgType = 4  // FINGERPRINT_TEMPLATE_REMOVED
	MsgAuthenticated       MsgType = 5  // FINGERPRINT_AUTHENTICATED
	MsgTemplateEnumerating MsgType = 6  // FINGERPRINT_TEMPLATE_ENUMERATING
)

func (t MsgType) String() string {
	switch t {
	case MsgError:
		return "FINGERPRINT_ERROR"
	case MsgAcquired:
		return "FINGERPRINT_ACQUIRED"
	case MsgTemplateEnrolling:
		return "FINGERPRINT_TEMPLATE_ENROLLING"
	case MsgTemplateRemoved:
		return "FINGERPRINT_TEMPLATE_REMOVED"
	case MsgAuthenticated:
		return "FINGERPRINT_AUTHENTICATED"
	case MsgTemplateEnumerating:
		return "FINGERPRINT_TEMPLATE_ENUMERATING"
	}
	return fmt.Sprintf("fingerprint_msg_type(%d)", int32(t))
}

// Legacy fingerprint.h codes that have no HIDL 2.1 constant of the same
// value.
const (
	// LegacyErrorVendorBase is FINGERPRINT_ERROR_VENDOR_BASE: legacy error
	// codes at or above it are vendor errors.
	LegacyErrorVendorBase = 1000
	// LegacyAcquiredDetected is FINGERPRINT_ACQUIRED_DETECTED (finger first
	// detected); HIDL 2.1 has no such value.
	LegacyAcquiredDetected = 6
	// LegacyAcquiredVendorBase is FINGERPRINT_ACQUIRED_VENDOR_BASE.
	LegacyAcquiredVendorBase = 1000
)

// FingerID is fingerprint.h fingerprint_finger_id_t.
type FingerID struct {
	GID uint32
	FID uint32
}

// Msg is fingerprint.h fingerprint_msg_t: one notify message of the legacy
// HAL, which in fpemu the fingerprint TA produces. Which fields are
// meaningful depends on Type:
//
//	MsgError                 Code (fingerprint_error_t, vendor codes ≥ 1000)
//	MsgAcquired              Code (fingerprint_acquired_info_t, vendor codes ≥ 1000)
//	MsgTemplateEnrolling     Finger, Remaining (samples_remaining)
//	MsgTemplateRemoved       Finger, Remaining (remaining_templates)
//	MsgAuthenticated         Finger (FID 0 = not recognised), HAT (69 bytes when FID ≠ 0)
//	MsgTemplateEnumerating   Finger, Remaining (remaining_templates)
type Msg struct {
	Type      MsgType
	Code      int32
	Finger    FingerID
	Remaining uint32
	HAT       []byte
}

// StatusFromErrno is the default 2.1 wrapper's ErrorFilter: the legacy
// return value of a fingerprint_device_t method (0 or -errno) as a
// RequestStatus. A value types.hal does not list is SYS_UNKNOWN.
func StatusFromErrno(rc int32) RequestStatus {
	s := RequestStatus(rc)
	if s == SysUnknown || !s.Valid() {
		return SysUnknown
	}
	return s
}

// ErrorFromLegacy is the default 2.1 wrapper's VendorErrorFilter: a legacy
// fingerprint_error_t as the FingerprintError and vendorCode of onError.
// Codes 1–7 map to themselves; a code ≥ FINGERPRINT_ERROR_VENDOR_BASE is
// ERROR_VENDOR with vendorCode = code − 1000; anything else (0, negative,
// 8–999) is ERROR_UNABLE_TO_PROCESS with vendorCode 0.
func ErrorFromLegacy(code int32) (FingerprintError, int32) {
	switch {
	case code >= int32(ErrorHWUnavailable) && code <= int32(ErrorLockout):
		return FingerprintError(code), 0
	case code >= LegacyErrorVendorBase:
		return ErrorVendor, code - LegacyErrorVendorBase
	}
	return ErrorUnableToProcess, 0
}

// AcquiredFromLegacy is the default 2.1 wrapper's VendorAcquiredFilter: a
// legacy fingerprint_acquired_info_t as the FingerprintAcquiredInfo and
// vendorCode of onAcquired. Codes 0–5 map to themselves; a code ≥
// FINGERPRINT_ACQUIRED_VENDOR_BASE is ACQUIRED_VENDOR with vendorCode =
// code − 1000; anything else — FINGERPRINT_ACQUIRED_DETECTED (6) included —
// is ACQUIRED_INSUFFICIENT with vendorCode 0.
func AcquiredFromLegacy(code int32) (FingerprintAcquiredInfo, int32) {
	switch {
	case code >= int32(AcquiredGood) && code <= int32(AcquiredTooFast):
		return FingerprintAcquiredInfo(code), 0
	case code >= LegacyAcquiredVendorBase:
		return AcquiredVendor, code - LegacyAcquiredVendorBase
	}
	return AcquiredInsufficient, 0
}

// CallbackFromMsg is the default 2.1 wrapper's notify(): the client
// callback a legacy message becomes, for the device deviceID. A
// FINGERPRINT_AUTHENTICATED with fid ≠ 0 carries its HAT as the token; with
// fid 0 (not recognised) the token is empty whatever the message held. A
// message type the wrapper does not handle yields ok = false: the wrapper
// drops it.
func CallbackFromMsg(deviceID uint64, m Msg) (cb Callback, ok bool) {
	switch m.Type {
	case MsgError:
		e, vc := ErrorFromLegacy(m.Code)
		return OnError{DeviceID: deviceID, Error: e, VendorCode: vc}, true
	case MsgAcquired:
		a, vc := AcquiredFromLegacy(m.Code)
		return OnAcquired{DeviceID: deviceID, AcquiredInfo: a, VendorCode: vc}, true
	case MsgTemplateEnrolling:
		return OnEnrollResult{DeviceID: deviceID, FingerID: m.Finger.FID, GroupID: m.Finger.GID, Remaining: m.Remaining}, true
	case MsgTemplateRemoved:
		return OnRemoved{DeviceID: deviceID, FingerID: m.Finger.FID, GroupID: m.Finger.GID, Remaining: m.Remaining}, true
	case MsgAuthenticated:
		cb := OnAuthenticated{DeviceID: deviceID, FingerID: m.Finger.FID, GroupID: m.Finger.GID}
		if m.Finger.FID != 0 {
			cb.Token = append([]byte(nil), m.HAT...)
		}
		return cb, true
	case MsgTemplateEnumerating:
		return OnEnumerate{DeviceID: deviceID, FingerID: m.Finger.FID, GroupID: m.Finger.GID, Remaining: m.Remaining}, true
	}
	return nil, false
}
