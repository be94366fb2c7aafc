package bio

import "errors"

// Sentinel errors. Every error of this package wraps exactly one of them.
// Error strings carry field names and lengths, never message bytes.
var (
	// ErrMalformed: bytes that are not a canonical version-1 message
	// (wrong length, unknown version, trailing bytes, a finger list that is
	// too long, unsorted, duplicated or contains finger id 0, a successful
	// result without a finger id). Marshal returns it for a value that has
	// no canonical encoding.
	ErrMalformed = errors.New("bio: malformed message")
	// ErrOutboxFull: the Sender's outbox holds MaxPending envelopes that
	// cannot be dropped (no auth result to evict); the REE is not draining.
	ErrOutboxFull = errors.New("bio: outbox full")
	// ErrBadConfig: NewSender was given an unusable sealer or clock.
	ErrBadConfig = errors.New("bio: bad configuration")
)
