package fpproto

import (
	"fmt"
	"strconv"
)

// MsgType is fingerprint_msg_type_t (hardware/libhardware fingerprint.h;
// HIDL android.hardware.biometrics.fingerprint@2.1 FingerprintMsgType): what
// an event reports. MsgNone is fpemu's: NEXT_EVENT found no event within its
// wait.
type MsgType int32

// Message types (AOSP numbers).
const (
	MsgNone                MsgType = 0  // fpemu: no event within the wait
	MsgError               MsgType = -1 // FINGERPRINT_ERROR → onError
	MsgAcquired            MsgType = 1  // FINGERPRINT_ACQUIRED → onAcquired
	MsgTemplateEnrolling   MsgType = 3  // FINGERPRINT_TEMPLATE_ENROLLING → onEnrollResult
	MsgTemplateRemoved     MsgType = 4  // FINGERPRINT_TEMPLATE_REMOVED → onRemoved
	MsgAuthenticated       MsgType = 5  // FINGERPRINT_AUTHENTICATED → onAuthenticated
	MsgTemplateEnumerating MsgType = 6  // FINGERPRINT_TEMPLATE_ENUMERATING → onEnumerate
)

// String returns the AOSP name.
func (t MsgType) String() string {
	switch t {
	case MsgNone:
		return "NONE"
	case MsgError:
		return "ERROR"
	case MsgAcquired:
		return "ACQUIRED"
	case MsgTemplateEnrolling:
		return "TEMPLATE_ENROLLING"
	case MsgTemplateRemoved:
		return "TEMPLATE_REMOVED"
	case MsgAuthenticated:
		return "AUTHENTICATED"
	case MsgTemplateEnumerating:
		return "TEMPLATE_ENUMERATING"
	}
	return "fingerprint_msg_type(" + strconv.Itoa(int(t)) + ")"
}

// Known reports whether t is one of the message types above.
func (t MsgType) Known() bool {
	switch t {
	case MsgNone, MsgError, MsgAcquired, MsgTemplateEnrolling, MsgTemplateRemoved,
		MsgAuthenticated, MsgTemplateEnumerating:
		return true
	}
	return false
}

// Error is HIDL 2.1 FingerprintError (fingerprint_error_t below the vendor
// base). A vendor error travels as ErrorVendor with the vendor code beside
// it, as the AOSP 2.1 default wrapper converts FINGERPRINT_ERROR_VENDOR_BASE
// + code.
type Error int32

// Fingerprint errors (HIDL 2.1 numbers; the framework's
// BiometricFingerprintConstants use the same values and add
// LOCKOUT_PERMANENT = 9, which fpemu reports for a permanent lockout).
const (
	ErrorNoError          Error = 0 // ERROR_NO_ERROR
	ErrorHWUnavailable    Error = 1 // ERROR_HW_UNAVAILABLE
	ErrorUnableToProcess  Error = 2 // ERROR_UNABLE_TO_PROCESS
	ErrorTimeout          Error = 3 // ERROR_TIMEOUT
	ErrorNoSpace          Error = 4 // ERROR_NO_SPACE
	ErrorCanceled         Error = 5 // ERROR_CANCELED
	ErrorUnableToRemove   Error = 6 // ERROR_UNABLE_TO_REMOVE
	ErrorLockout          Error = 7 // ERROR_LOCKOUT (timed: 30 s)
	ErrorVendor           Error = 8 // ERROR_VENDOR (vendor code beside it)
	ErrorLockoutPermanent Error = 9 // framework FINGERPRINT_ERROR_LOCKOUT_PERMANENT (not in the 2.1 enum)
)

// String returns the AOSP name.
func (e Error) String() string {
	switch e {
	case ErrorNoError:
		return "ERROR_NO_ERROR"
	case ErrorHWUnavailable:
		return "ERROR_HW_UNAVAILABLE"
	case ErrorUnableToProcess:
		return "ERROR_UNABLE_TO_PROCESS"
	case ErrorTimeout:
		return "ERROR_TIMEOUT"
	case ErrorNoSpace:
		return "ERROR_NO_SPACE"
	case ErrorCanceled:
		return "ERROR_CANCELED"
	case ErrorUnableToRemove:
		return "ERROR_UNABLE_TO_REMOVE"
	case ErrorLockout:
		return "ERROR_LOCKOUT"
	case ErrorVendor:
		return "ERROR_VENDOR"
	case ErrorLockoutPermanent:
		return "ERROR_LOCKOUT_PERMANENT"
	}
	return "fingerprint_error(" + strconv.Itoa(int(e)) + ")"
}

// AcquiredInfo is HIDL 2.1 FingerprintAcquiredInfo. A vendor acquired code
// travels as AcquiredVendor with the vendor code beside it.
type AcquiredInfo int32

// Acquired codes (HIDL 2.1 numbers).
const (
	AcquiredGood         AcquiredInfo = 0 // ACQUIRED_GOOD
	AcquiredPartial      AcquiredInfo = 1 // ACQUIRED_PARTIAL
	AcquiredInsufficient AcquiredInfo = 2 // ACQUIRED_INSUFFICIENT
	AcquiredImagerDirty  AcquiredInfo = 3 // ACQUIRED_IMAGER_DIRTY
	AcquiredTooSlow      AcquiredInfo = 4 // ACQUIRED_TOO_SLOW
	AcquiredTooFast      AcquiredInfo = 5 // ACQUIRED_TOO_FAST
	AcquiredVendor       AcquiredInfo = 6 // ACQUIRED_VENDOR (vendor code beside it)
)

// String returns the AOSP name.
func (a AcquiredInfo) String() string {
	switch a {
	case AcquiredGood:
		return "ACQUIRED_GOOD"
	case AcquiredPartial:
		return "ACQUIRED_PARTIAL"
	case AcquiredInsufficient:
		return "ACQUIRED_INSUFFICIENT"
	case AcquiredImagerDirty:
		return "ACQUIRED_IMAGER_DIRTY"
	case AcquiredTooSlow:
		return "ACQUIRED_TOO_SLOW"
	case AcquiredTooFast:
		return "ACQUIRED_TOO_FAST"
	case AcquiredVendor:
		return "ACQUIRED_VENDOR"
	}
	return "fingerprint_acquired(" + strconv.Itoa(int(a)) + ")"
}

// RequestStatus is HIDL 2.1 RequestStatus: the synchronous answer of a HAL
// method (negative errno values).
type RequestStatus int32

// Request statuses (HIDL 2.1 types.hal).
const (
	SysOK        RequestStatus = 0    // SYS_OK
	SysUnknown   RequestStatus = 1    // SYS_UNKNOWN
	SysENOENT    RequestStatus = -2   // SYS_ENOENT
	SysEINTR     RequestStatus = -4   // SYS_EINTR
	SysEIO       RequestStatus = -5   // SYS_EIO
	SysEAGAIN    RequestStatus = -11  // SYS_EAGAIN
	SysENOMEM    RequestStatus = -12  // SYS_ENOMEM
	SysEACCES    RequestStatus = -13  // SYS_EACCES
	SysEFAULT    RequestStatus = -14  // SYS_EFAULT
	SysEBUSY     RequestStatus = -16  // SYS_EBUSY
	SysEINVAL    RequestStatus = -22  // SYS_EINVAL
	SysENOSPC    RequestStatus = -28  // SYS_ENOSPC
	SysETIMEDOUT RequestStatus = -110 // SYS_ETIMEDOUT
)

// String returns the AOSP name.
func (s RequestStatus) String() string {
	switch s {
	case SysOK:
		return "SYS_OK"
	case SysUnknown:
		return "SYS_UNKNOWN"
	case SysENOENT:
		return "SYS_ENOENT"
	case SysEINTR:
		return "SYS_EINTR"
	case SysEIO:
		return "SYS_EIO"
	case SysEAGAIN:
		return "SYS_EAGAIN"
	case SysENOMEM:
		return "SYS_ENOMEM"
	case SysEACCES:
		return "SYS_EACCES"
	case SysEFAULT:
		return "SYS_EFAULT"
	case SysEBUSY:
		return "SYS_EBUSY"
	case SysEINVAL:
		return "SYS_EINVAL"
	case SysENOSPC:
		return "SYS_ENOSPC"
	case SysETIMEDOUT:
		return "SYS_ETIMEDOUT"
	}
	return "request_status(" + strconv.Itoa(int(s)) + ")"
}

// Err returns nil for SYS_OK and a *StatusError otherwise.
func (s RequestStatus) Err() error {
	if s == SysOK {
		return nil
	}
	return &StatusError{Status: s}
}

// StatusError is a non-OK RequestStatus as an error; errors.Is matches
// another *StatusError with the same Status (e.g. ErrBusy).
type StatusError struct{ Status RequestStatus }

func (e *StatusError) Error() string { return fmt.Sprintf("fingerprint: %v", e.Status) }

// Is matches on Status.
func (e *StatusError) Is(target error) bool {
	t, ok := target.(*StatusError)
	return ok && t.Status == e.Status
}

// Sentinels for the statuses the TA returns.
var (
	ErrBusy    = &StatusError{Status: SysEBUSY}  // another operation is running
	ErrInvalid = &StatusError{Status: SysEINVAL} // bad argument (e.g. store path)
)
