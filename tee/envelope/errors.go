package envelope

import "errors"

// Sentinel errors. Every error this package returns wraps exactly one of
// them, so callers test with errors.Is. Error strings name TAs, message
// types and sequence numbers — never keys, nonces or payload bytes.
var (
	// ErrMalformed: the bytes are not a well-formed version-1 envelope
	// (wrong length, unknown version, zero sequence number, payload over
	// MaxPayload, trailing bytes).
	ErrMalformed = errors.New("envelope: malformed")
	// ErrWrongRecipient: the envelope is addressed to another TA.
	ErrWrongRecipient = errors.New("envelope: wrong recipient")
	// ErrUnknownSender: the manifest has no route from the sender to this
	// TA, or this TA holds no key for it.
	ErrUnknownSender = errors.New("envelope: unknown sender")
	// ErrNoRoute: Seal was asked to address a TA that the manifest does not
	// let this TA send to, or for which it holds no key.
	ErrNoRoute = errors.New("envelope: no route to recipient")
	// ErrBadType: the message type is not one the manifest carries on this
	// route (see TypeAllowed).
	ErrBadType = errors.New("envelope: message type not allowed on route")
	// ErrAuth: SM4-GCM authentication failed: a byte of the envelope was
	// changed, or it was sealed with another key (another route or an
	// earlier boot).
	ErrAuth = errors.New("envelope: authentication failed")
	// ErrReplay: an authentic envelope whose sequence number is not above
	// the highest one already accepted on its route (a replay or a
	// reordering).
	ErrReplay = errors.New("envelope: replayed or reordered sequence number")
	// ErrPayloadTooLarge: Seal was given more than MaxPayload bytes.
	ErrPayloadTooLarge = errors.New("envelope: payload too large")
	// ErrSequenceExhausted: the sender's sequence space is used up (after
	// 2^64-1 numbers, 584 years of nanoseconds).
	ErrSequenceExhausted = errors.New("envelope: sequence numbers exhausted")
	// ErrBadConfig: NewSealer or NewOpener was given an unusable identity,
	// keyring or guard.
	ErrBadConfig = errors.New("envelope: bad configuration")
)
