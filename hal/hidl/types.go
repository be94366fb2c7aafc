package hidl

import "fmt"

// RequestStatus is types.hal RequestStatus: the synchronous result of an
// IBiometricsFingerprint method, a negated errno as the legacy
// fingerprint.h functions return it.
type RequestStatus int32

// RequestStatus values (types.hal).
const (
	SysUnknown   RequestStatus = 1
	SysOK        RequestStatus = 0
	SysENOENT    RequestStatus = -2
	SysEINTR     RequestStatus = -4
	SysEIO       RequestStatus = -5
	SysEAGAIN    RequestStatus = -11
	SysENOMEM    RequestStatus = -12
	SysEACCES    RequestStatus = -13
	SysEFAULT    RequestStatus = -14
	SysEBUSY     RequestStatus = -16
	SysEINVAL    RequestStatus = -22
	SysENOSPC    RequestStatus = -28
	SysETIMEDOUT RequestStatus = -110
)

var requestStatusNames = map[RequestStatus]string{
	SysUnknown: "SYS_UNKNOWN", SysOK: "SYS_OK", SysENOENT: "SYS_ENOENT", SysEINTR: "SYS_EINTR",
	SysEIO: "SYS_EIO", SysEAGAIN: "SYS_EAGAIN", SysENOMEM: "SYS_ENOMEM", SysEACCES: "SYS_EACCES",
	SysEFAULT: "SYS_EFAULT", SysEBUSY: "SYS_EBUSY", SysEINVAL: "SYS_EINVAL", SysENOSPC: "SYS_ENOSPC",
	SysETIMEDOUT: "SYS_ETIMEDOUT",
}

func (s RequestStatus) String() string {
	if n, ok := requestStatusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("RequestStatus(%d)", int32(s))
}

// Valid reports whether s is one of the types.hal values.
func (s RequestStatus) Valid() bool { _, ok := requestStatusNames[s]; return ok }

// FingerprintError is types.hal FingerprintError, the error of onError.
// The values equal fingerprint.h fingerprint_error_t for 0–7; ERROR_VENDOR
// (8) stands for every legacy code at or above FINGERPRINT_ERROR_VENDOR_BASE
// (1000), with the offset in the callback's vendorCode. (AIDL Error numbers
// differ: VENDOR is 7 there and there is no LOCKOUT.)
type FingerprintError int32

// FingerprintError values (types.hal).
const (
	ErrorNoError         FingerprintError = 0
	ErrorHWUnavailable   FingerprintError = 1
	ErrorUnableToProcess FingerprintError = 2
	ErrorTimeout         FingerprintError = 3
	ErrorNoSpace         FingerprintError = 4
	ErrorCanceled        FingerprintError = 5
	ErrorUnableToRemove  FingerprintError = 6
	ErrorLockout         FingerprintError = 7
	ErrorVendor          FingerprintError = 8
)

var fingerprintErrorNames = [...]string{
	"ERROR_NO_ERROR", "ERROR_HW_UNAVAILABLE", "ERROR_UNABLE_TO_PROCESS", "ERROR_TIMEOUT",
	"ERROR_NO_SPACE", "ERROR_CANCELED", "ERROR_UNABLE_TO_REMOVE", "ERROR_LOCKOUT", "ERROR_VENDOR",
}

func (e FingerprintError) String() string {
	if e.Valid() {
		return fingerprintErrorNames[e]
	}
	return fmt.Sprintf("FingerprintError(%d)", int32(e))
}

// Valid reports whether e is one of the types.hal values.
func (e FingerprintError) Valid() bool { return e >= ErrorNoError && e <= ErrorVendor }

// FingerprintAcquiredInfo is types.hal FingerprintAcquiredInfo, the
// information of onAcquired. Values 0–5 equal fingerprint.h
// fingerprint_acquired_info_t; ACQUIRED_VENDOR (6) stands for every legacy
// code at or above FINGERPRINT_ACQUIRED_VENDOR_BASE (1000), with the offset
// in vendorCode. (Legacy FINGERPRINT_ACQUIRED_DETECTED is also 6 but has no
// HIDL 2.1 counterpart: the wrapper reports it as ACQUIRED_INSUFFICIENT.
// HIDL 2.2 adds START = 7.)
type FingerprintAcquiredInfo int32

// FingerprintAcquiredInfo values (types.hal).
const (
	AcquiredGood         FingerprintAcquiredInfo = 0
	AcquiredPartial      FingerprintAcquiredInfo = 1
	AcquiredInsufficient FingerprintAcquiredInfo = 2
	AcquiredImagerDirty  FingerprintAcquiredInfo = 3
	AcquiredTooSlow      FingerprintAcquiredInfo = 4
	AcquiredTooFast      FingerprintAcquiredInfo = 5
	AcquiredVendor       FingerprintAcquiredInfo = 6
)

var acquiredNames = [...]string{
	"ACQUIRED_GOOD", "ACQUIRED_PARTIAL", "ACQUIRED_INSUFFICIENT", "ACQUIRED_IMAGER_DIRTY",
	"ACQUIRED_TOO_SLOW", "ACQUIRED_TOO_FAST", "ACQUIRED_VENDOR",
}

func (a FingerprintAcquiredInfo) String() string {
	if a.Valid() {
		return acquiredNames[a]
	}
	return fmt.Sprintf("FingerprintAcquiredInfo(%d)", int32(a))
}

// Valid reports whether a is one of the types.hal values.
func (a FingerprintAcquiredInfo) Valid() bool { return a >= AcquiredGood && a <= AcquiredVendor }

// HATSize is the size of the hw_auth_token_t that enroll takes
// (uint8_t[69] in IBiometricsFingerprint.hal) and that onAuthenticated
// carries on success.
const HATSize = 69
