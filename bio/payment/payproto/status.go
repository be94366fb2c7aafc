package payproto

import (
	"errors"

	"github.com/fpemu/fpemu/tee"
)

// TA-defined TEEC result codes (GP TEE Client API §4.4.2 leaves
// 0x00000001..0xFFFEFFFF to TAs). Over the wire they are the result of the
// INVOKE; in the Go client the sentinels below match them with errors.Is.
const (
	// ResultNotAuthorized: no fresh successful auth result whose
	// transaction id equals the challenge ("no authorisation, no
	// signature").
	ResultNotAuthorized tee.Result = 0x50410001
	// ResultAuthExpired: the auth result for the challenge is older than
	// the TA's auth result TTL (30 s of boot clock on fpemu), or the
	// challenge is, with no auth result for it.
	ResultAuthExpired tee.Result = 0x50410002
	// ResultKeyInvalidated: the scene key was bound to a finger list that
	// has changed since (a finger enrolled or removed). The app must
	// create a new scene key and register it with its server again.
	ResultKeyInvalidated tee.Result = 0x50410003
	// ResultNoFingers: no finger list is known for the group, or it is
	// empty, so a scene key cannot be bound.
	ResultNoFingers tee.Result = 0x50410004
)

func taError(code tee.Result, detail string) *tee.Error {
	return &tee.Error{Code: code, Origin: tee.OriginTrustedApp, Detail: detail}
}

// Sentinels. They are *tee.Error values, so errors.Is matches them by code
// both in process and on the client side of the socket.
var (
	ErrNotAuthorized  = taError(ResultNotAuthorized, "payment: no fresh fingerprint authorisation for this challenge")
	ErrAuthExpired    = taError(ResultAuthExpired, "payment: fingerprint authorisation expired")
	ErrKeyInvalidated = taError(ResultKeyInvalidated, "payment: key invalidated by a finger enrollment or removal; re-register")
	ErrNoFingers      = taError(ResultNoFingers, "payment: no enrolled fingers known for the group")
	// ErrNoKey: the referenced app or scene key does not exist.
	ErrNoKey = taError(tee.ResultItemNotFound, "payment: no such key")
	// ErrWrongRoute: DELIVER was given an envelope that does not come from
	// the fingerprint TA, or SET_AUTH_TOKEN_KEY one that does not come
	// from Keymaster.
	ErrWrongRoute = taError(tee.ResultAccessDenied, "payment: envelope from the wrong TA")
	// ErrBadMessage: an authentic envelope whose payload is not a
	// well-formed message of its type.
	ErrBadMessage = taError(tee.ResultBadFormat, "payment: malformed message in envelope")
	// ErrBadRequest: a malformed key reference or an over-long payload.
	ErrBadRequest = taError(tee.ResultBadParameters, "payment: malformed request")
	// ErrNeedsIdentity: an app command on a session opened with
	// TEEC_LOGIN_PUBLIC. Keys belong to a client identity, which only
	// TEEC_LOGIN_USER or TEEC_LOGIN_GROUP establish (docs/protocol.md
	// §1.12, §8.5).
	ErrNeedsIdentity = taError(tee.ResultAccessDenied, "payment: app commands need a client identity (TEEC_LOGIN_USER or TEEC_LOGIN_GROUP)")
	// ErrNotOwner: the key (or its app id) belongs to another client
	// identity. Nothing was read or changed.
	ErrNotOwner = taError(tee.ResultAccessDenied, "payment: key belongs to another client identity")
	// ErrQuota: the client identity already holds MaxKeysPerIdentity keys.
	ErrQuota = taError(tee.ResultOutOfMemory, "payment: key quota of this client identity reached")
	// ErrChallengesBusy: MaxPendingChallenges payment challenges are
	// outstanding (of other identities); retry after some expire.
	ErrChallengesBusy = taError(tee.ResultBusy, "payment: too many payment challenges outstanding")
)

// ErrResponse: the TA answered TEEC_SUCCESS with outputs that break
// docs/protocol.md §8 (a certificate or statement that does not parse, a
// zero challenge).
var ErrResponse = errors.New("payment: malformed response")
