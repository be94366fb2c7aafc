package fpproto

import (
	"strconv"
	"time"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
)

// Command is a fingerprint TA command identifier (the commandID of
// TEEC_InvokeCommand; docs/protocol.md §9.2). Commands 1–9 are the methods
// of HIDL IBiometricsFingerprint@2.1 in declaration order (setNotify,
// method 0, has no TA counterpart: callbacks are NEXT_EVENT); 0x100… are
// fpemu's.
type Command uint32

// Fingerprint TA commands.
const (
	CmdPreEnroll          Command = 1      // preEnroll
	CmdEnroll             Command = 2      // enroll(hat, gid, timeoutSec)
	CmdPostEnroll         Command = 3      // postEnroll
	CmdGetAuthenticatorID Command = 4      // getAuthenticatorId
	CmdCancel             Command = 5      // cancel
	CmdEnumerate          Command = 6      // enumerate
	CmdRemove             Command = 7      // remove(gid, fid)
	CmdSetActiveGroup     Command = 8      // setActiveGroup(gid, storePath)
	CmdAuthenticate       Command = 9      // authenticate(operationId, gid)
	CmdNextEvent          Command = 0x100  // fpemu: wait for the next callback
	CmdResetLockout       Command = 0x101  // fpemu: AIDL ISession.resetLockout(hat)
	CmdFetchOutbox        Command = 0x102  // fpemu: next bio envelope for the payment TA
	CmdSetAuthTokenKey    Command = 0x1000 // fpemu: Keymaster's auth-token key (envelope)
)

var commandNames = map[Command]string{
	CmdPreEnroll:          "PRE_ENROLL",
	CmdEnroll:             "ENROLL",
	CmdPostEnroll:         "POST_ENROLL",
	CmdGetAuthenticatorID: "GET_AUTHENTICATOR_ID",
	CmdCancel:             "CANCEL",
	CmdEnumerate:          "ENUMERATE",
	CmdRemove:             "REMOVE",
	CmdSetActiveGroup:     "SET_ACTIVE_GROUP",
	CmdAuthenticate:       "AUTHENTICATE",
	CmdNextEvent:          "NEXT_EVENT",
	CmdResetLockout:       "RESET_LOCKOUT",
	CmdFetchOutbox:        "FETCH_OUTBOX",
	CmdSetAuthTokenKey:    "SET_AUTH_TOKEN_KEY",
}

// String returns the command's name in docs/protocol.md §9.2.
func (c Command) String() string { return tee.CommandName("fingerprint", commandNames, c) }

// Parameter layouts (docs/protocol.md). 64-bit values travel in one VALUE
// parameter, a = low 32 bits, b = high 32 bits (as the Gatekeeper TA's);
// statuses as the two's-complement uint32 of the int32.
//
//	PRE_ENROLL           p0 VALUE_OUTPUT   a,b = challenge
//	ENROLL               p0 VALUE_INPUT    a = gid, b = timeout_sec
//	                     p1 MEMREF_INPUT   hw_auth_token_t (any size; checked as a HAT)
//	                     p2 VALUE_OUTPUT   a = RequestStatus
//	POST_ENROLL          p0 VALUE_OUTPUT   a = RequestStatus
//	GET_AUTHENTICATOR_ID p0 VALUE_OUTPUT   a,b = authenticator id
//	CANCEL               p0 VALUE_OUTPUT   a = RequestStatus
//	ENUMERATE            p0 VALUE_OUTPUT   a = RequestStatus
//	REMOVE               p0 VALUE_INPUT    a = gid, b = fid (0: all of gid)
//	                     p1 VALUE_OUTPUT   a = RequestStatus
//	SET_ACTIVE_GROUP     p0 VALUE_INPUT    a = gid
//	                     p1 MEMREF_INPUT   store path (bytes, no NUL)
//	                     p2 VALUE_OUTPUT   a = RequestStatus
//	AUTHENTICATE         p0 VALUE_INPUT    a,b = operation id
//	                     p1 VALUE_INPUT    a = gid
//	                     p2 VALUE_OUTPUT   a = RequestStatus
//	NEXT_EVENT           p0 VALUE_INOUT    in a = wait ms; out a = msg type, b = events still queued
//	                     p1 VALUE_OUTPUT   per msg type (see Event)
//	                     p2 VALUE_OUTPUT   a = remaining, b = detail
//	                     p3 MEMREF_OUTPUT  HAT of AUTHENTICATED (capacity ≥ 69)
//	RESET_LOCKOUT        p0 VALUE_INPUT    a = gid
//	                     p1 MEMREF_INPUT   hw_auth_token_t (PASSWORD)
//	                     p2 VALUE_OUTPUT   a = Error (0 = cleared), b = Reason
//	FETCH_OUTBOX         p0 MEMREF_OUTPUT  batch of envelopes, oldest first (bio.SplitBatch)
//	                     p1 VALUE_OUTPUT   a = envelopes still queued
//	SET_AUTH_TOKEN_KEY   p0 MEMREF_INPUT   envelope from Keymaster
var (
	TypesPreEnroll          = tee.ParamTypes{tee.ParamValueOutput}
	TypesEnroll             = tee.ParamTypes{tee.ParamValueInput, tee.ParamMemrefInput, tee.ParamValueOutput}
	TypesPostEnroll         = tee.ParamTypes{tee.ParamValueOutput}
	TypesGetAuthenticatorID = tee.ParamTypes{tee.ParamValueOutput}
	TypesCancel             = tee.ParamTypes{tee.ParamValueOutput}
	TypesEnumerate          = tee.ParamTypes{tee.ParamValueOutput}
	TypesRemove             = tee.ParamTypes{tee.ParamValueInput, tee.ParamValueOutput}
	TypesSetActiveGroup     = tee.ParamTypes{tee.ParamValueInput, tee.ParamMemrefInput, tee.ParamValueOutput}
	TypesAuthenticate       = tee.ParamTypes{tee.ParamValueInput, tee.ParamValueInput, tee.ParamValueOutput}
	TypesNextEvent          = tee.ParamTypes{tee.ParamValueInout, tee.ParamValueOutput, tee.ParamValueOutput, tee.ParamMemrefOutput}
	TypesResetLockout       = tee.ParamTypes{tee.ParamValueInput, tee.ParamMemrefInput, tee.ParamValueOutput}
	TypesFetchOutbox        = tee.ParamTypes{tee.ParamMemrefOutput, tee.ParamValueOutput}
	TypesSetAuthTokenKey    = tee.ParamTypes{tee.ParamMemrefInput}
)

// Limits and defaults of the fingerprint TA (docs/protocol.md §9).
const (
	// MaxTemplatesPerGroup is the per-group enrollment limit: framework
	// config_fingerprintMaxTemplatesPerUser = 5, the AIDL virtual HAL's
	// max_enrollments = 5. The next ENROLL ends with ERROR_NO_SPACE.
	MaxTemplatesPerGroup = 5
	// DefaultEnrollSamples is how many good samples one enrollment merges
	// (samples_remaining counts down from it): the touches sim/finger's
	// matcher evaluation enrolls with, so its FAR/FRR apply.
	DefaultEnrollSamples = 8
	// DefaultChallengeTimeout bounds the life of a PRE_ENROLL challenge: the
	// framework keeps the credential for biometric enrollment
	// GK_PW_HANDLE_STORE_DURATION_MS = 10 minutes.
	DefaultChallengeTimeout = 10 * time.Minute
	// DefaultHATMaxAge is how old a PASSWORD HAT may be at ENROLL and
	// RESET_LOCKOUT ("relatively recent, minutes not hours": AIDL
	// ISession.resetLockout; the framework's 10-minute credential window).
	DefaultHATMaxAge = 10 * time.Minute
	// DefaultEnrollTimeout is used when ENROLL's timeout_sec is 0 (the
	// framework's Fingerprint21.ENROLL_TIMEOUT_SEC = 60).
	DefaultEnrollTimeout = 60 * time.Second
	// MaxEventWait bounds NEXT_EVENT's wait; longer waits are cut to it.
	MaxEventWait = 30 * time.Second
	// MaxPathLen is PATH_MAX: SET_ACTIVE_GROUP paths must be shorter (the
	// 2.1 default wrapper checks 0 < len < PATH_MAX).
	MaxPathLen = 4096
	// OutboxCapacity is a FETCH_OUTBOX capacity that always takes the whole
	// outbox: bio.MaxPending envelopes of the largest bio message (a full
	// finger list), 7360 bytes.
	OutboxCapacity = bio.MaxPending * (envelope.Overhead + bio.MaxFingerListSize)
	// MaxQueuedEvents bounds the event queue; beyond it the oldest event
	// is dropped (the REE is not pumping NEXT_EVENT).
	MaxQueuedEvents = 256
)

// Lockout policy: the HIDL framework's LockoutFrameworkImpl
// (MAX_FAILED_ATTEMPTS_LOCKOUT_TIMED, MAX_FAILED_ATTEMPTS_LOCKOUT_PERMANENT,
// FAIL_LOCKOUT_TIMEOUT_MS), enforced in the TA.
const (
	LockoutTimedAttempts     = 5
	LockoutPermanentAttempts = 20
	LockoutTimedDuration     = 30 * time.Second
)

// Reason is fpemu's detail of an ERROR event or a RESET_LOCKOUT refusal:
// which check failed. AOSP reports these all as ERROR_UNABLE_TO_PROCESS
// (AIDL ISession.enroll/resetLockout) or ERROR_HW_UNAVAILABLE; the reason
// travels beside the error (NEXT_EVENT p2.b) for diagnostics.
type Reason uint32

// Reasons, in the order ENROLL checks a HAT.
const (
	ReasonNone           Reason = 0
	ReasonNoAuthTokenKey Reason = 1  // Keymaster's key has not arrived (ERROR_HW_UNAVAILABLE)
	ReasonHATMalformed   Reason = 2  // not a 69-byte hw_auth_token_t
	ReasonHATVersion     Reason = 3  // version != 0
	ReasonHATMAC         Reason = 4  // HMAC does not verify
	ReasonHATChallenge   Reason = 5  // no outstanding PRE_ENROLL challenge, expired, or another
	ReasonHATAuthType    Reason = 6  // authenticator_type lacks PASSWORD
	ReasonHATStale       Reason = 7  // timestamp too old, or in the future
	ReasonEnrollMerge    Reason = 8  // the samples could not be merged into a template
	ReasonInternal       Reason = 9  // storage failure (details in the TA log)
	ReasonSensor         Reason = 10 // the error was injected or reported by the sensor
	ReasonHATUser        Reason = 11 // HAT user_id is not the SID bound to the group's templates
	reasonCount                 = 12
)

var reasonNames = [...]string{
	"none", "no auth-token key", "HAT malformed", "HAT version", "HAT MAC",
	"HAT challenge", "HAT authenticator type", "HAT stale", "enroll merge", "internal", "sensor",
	"HAT user not the group's SID",
}

// Reasons lists every defined Reason but ReasonNone, in code order: the
// vendor codes of docs/protocol.md §10's table.
func Reasons() []Reason {
	out := make([]Reason, 0, reasonCount-1)
	for r := Reason(1); r < reasonCount; r++ {
		out = append(out, r)
	}
	return out
}

// VendorCode is the vendorCode the HAL reports beside an onError the TA
// refused for this reason (fpemu's extension; AOSP's framework reads
// vendorCode only with ERROR_VENDOR): the reason's number, or 0 for
// ReasonNone and any value the TA does not define. It never carries
// anything a real TEE would keep secret (a match score, a distance).
func (r Reason) VendorCode() int32 {
	if r == ReasonNone || r >= reasonCount {
		return 0
	}
	return int32(r)
}

// String names the reason.
func (r Reason) String() string {
	if r < reasonCount {
		return reasonNames[r]
	}
	return "reason(" + strconv.FormatUint(uint64(r), 10) + ")"
}
