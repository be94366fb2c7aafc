package channel

import "errors"

// Sentinel errors, one per rule (docs/protocol.md §11.9). Error strings
// name fields and lengths, never key material or plaintext.
var (
	// ErrConfig: a Config is unusable (missing key, unknown profile).
	ErrConfig = errors.New("channel: bad configuration")
	// ErrMalformed: the bytes do not decode (the chanwire error is wrapped
	// too, so errors.As finds its *chanwire.FormatError).
	ErrMalformed = errors.New("channel: malformed message")
	// ErrUnexpectedMessage: a well-formed message arrived out of order,
	// again, or in a state that takes no message (rule: each state accepts
	// exactly one message type).
	ErrUnexpectedMessage = errors.New("channel: unexpected message")
	// ErrDead: an earlier call failed; the state machine keeps nothing and
	// accepts nothing.
	ErrDead = errors.New("channel: state machine dead after an error")
	// ErrProfile: the message's profile is not the one of this handshake,
	// or not one this side accepts.
	ErrProfile = errors.New("channel: profile not accepted")
	// ErrDowngrade: the device proposed a profile weaker than the best one
	// both sides offer (rule: no downgrade; gm-fs keeps the offered list in
	// the signed transcript).
	ErrDowngrade = errors.New("channel: downgrade refused")
	// ErrCertificate: a peer certificate does not parse, does not chain to
	// the trust anchors, has the wrong key usage or key type, or the two
	// certificates of a pair name different subjects.
	ErrCertificate = errors.New("channel: bad peer certificate")
	// ErrIdentity: the peer's certificate names another identity than the
	// one expected (server name, device registry).
	ErrIdentity = errors.New("channel: wrong peer identity")
	// ErrKeyExchange: a peer key-exchange point is not on the curve, or the
	// exchange failed.
	ErrKeyExchange = errors.New("channel: key exchange failed")
	// ErrSignature: a handshake signature does not verify.
	ErrSignature = errors.New("channel: bad handshake signature")
	// ErrConfirm: S_A or S_B (GB/T 32918.3 key confirmation) does not match.
	ErrConfirm = errors.New("channel: key confirmation failed")
	// ErrFinished: a Finished MAC does not match.
	ErrFinished = errors.New("channel: bad finished MAC")
	// ErrDecrypt: an optee-rsa sealed field does not decrypt or its
	// plaintext is wrong (an echoed random that differs).
	ErrDecrypt = errors.New("channel: sealed field does not open")
	// ErrNotEstablished: Seal or OpenRecord before the handshake finished
	// (rule: no application data before both Finished).
	ErrNotEstablished = errors.New("channel: not established")
	// ErrSequence: a record's sequence number is not the next expected one
	// (replayed, reordered or dropped records).
	ErrSequence = errors.New("channel: record out of sequence")
	// ErrRecordAuth: a record does not authenticate (tampered, sealed for
	// another session, or reflected back to its sender).
	ErrRecordAuth = errors.New("channel: record authentication failed")
	// ErrAppSignature: an application message's signature does not verify
	// under the peer's signing key.
	ErrAppSignature = errors.New("channel: bad application message signature")
	// ErrExhausted: the record sequence number would wrap.
	ErrExhausted = errors.New("channel: sequence numbers exhausted")
	// ErrEnvelope: a GM/T 0010 envelope does not parse, decrypt or verify.
	ErrEnvelope = errors.New("channel: bad envelope")
)
