package keymaster

import (
	"errors"
	"time"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tokens"
)

// ErrNoAuthToken is the reason (wrapped in KEY_USER_NOT_AUTHENTICATED) when
// an auth-bound key is used without a HAT where one is required.
var ErrNoAuthToken = errors.New("no auth token")

// ErrNoAuthType is the reason (wrapped in KEY_USER_NOT_AUTHENTICATED) when a
// key has USER_SECURE_IDs but no USER_AUTH_TYPE (KMR AuthInfo::new).
var ErrNoAuthType = errors.New("key has USER_SECURE_ID but no USER_AUTH_TYPE")

// ErrNoSecureID is the reason (wrapped in KEY_USER_NOT_AUTHENTICATED) when a
// key has USER_AUTH_TYPE or AUTH_TIMEOUT but no USER_SECURE_ID: no token
// can match it, so it fails closed.
var ErrNoSecureID = errors.New("key has auth tags but no USER_SECURE_ID")

// AuthPolicy is a key's user-authentication requirements, read from its
// parameters (Tag.aidl USER_SECURE_ID, NO_AUTH_REQUIRED, USER_AUTH_TYPE,
// AUTH_TIMEOUT).
type AuthPolicy struct {
	SecureIDs      []uint64 // every USER_SECURE_ID (repeatable; any one may match)
	NoAuthRequired bool
	HasAuthType    bool
	AuthType       tokens.AuthenticatorType
	HasTimeout     bool
	TimeoutSeconds uint32
}

// PolicyOf extracts the authentication policy from a key's parameters.
func PolicyOf(ps kmproto.Params) AuthPolicy {
	var p AuthPolicy
	p.SecureIDs = ps.Ints(kmproto.TagUserSecureID)
	p.NoAuthRequired = ps.Has(kmproto.TagNoAuthRequired)
	if t, ok := ps.Get(kmproto.TagUserAuthType); ok {
		p.HasAuthType, p.AuthType = true, tokens.AuthenticatorType(t.Int)
	}
	if t, ok := ps.Get(kmproto.TagAuthTimeout); ok {
		p.HasTimeout, p.TimeoutSeconds = true, uint32(t.Int)
	}
	return p
}

// authKind says when a key needs a HAT.
type authKind uint8

const (
	authNone    authKind = iota // no HAT ever
	authTimeout                 // a fresh HAT at begin, nothing after
	authPerOp                   // a HAT with challenge == op handle on every update/finish
)

// kind classifies the policy, rejecting inconsistent keys the way AOSP does:
//
//   - USER_SECURE_ID together with NO_AUTH_REQUIRED is INVALID_KEY_BLOB
//     (keymaster_enforcement.cpp AuthorizeBegin; KMR AuthInfo::new "found
//     both NO_AUTH_REQUIRED and USER_SECURE_ID"; Tag.aidl: mutually
//     exclusive).
//   - NO_AUTH_REQUIRED alone: no authentication (AuthorizeUpdateOrFinish).
//   - no auth tags at all: no authentication (legacy keys, KMR "no SIDs").
//   - USER_SECURE_ID without USER_AUTH_TYPE is KEY_USER_NOT_AUTHENTICATED
//     (KMR AuthInfo::new).
//   - USER_AUTH_TYPE or AUTH_TIMEOUT without any USER_SECURE_ID is
//     KEY_USER_NOT_AUTHENTICATED: no token can match (AuthTokenMatches
//     loops over SIDs; with none, nothing matches). fpemu fails closed here
//     rather than treat the key as unauthenticated.
//   - AUTH_TIMEOUT present: timeout-based; absent: auth-per-operation.
func (p *AuthPolicy) kind() (authKind, error) {
	sids := len(p.SecureIDs) > 0
	switch {
	case sids && p.NoAuthRequired:
		return 0, kmErr(kmproto.ErrorInvalidKeyBlob, "key has both NO_AUTH_REQUIRED and USER_SECURE_ID")
	case p.NoAuthRequired:
		return authNone, nil
	case !sids && !p.HasAuthType && !p.HasTimeout:
		return authNone, nil
	case !sids:
		return 0, &kmproto.Error{Code: kmproto.ErrorKeyUserNotAuthenticated, Err: ErrNoSecureID}
	case !p.HasAuthType:
		return 0, &kmproto.Error{Code: kmproto.ErrorKeyUserNotAuthenticated, Err: ErrNoAuthType}
	case p.HasTimeout:
		return authTimeout, nil
	}
	return authPerOp, nil
}

// Enforcer applies the KeyMint user-authentication rules. Clock is the
// device boot clock HAT timestamps are stamped with; MAC checks HAT MACs
// with the per-boot auth-token key (constant time, tokens.MAC.Check).
type Enforcer struct {
	Clock tee.Clock
	MAC   *tokens.MAC
}

// Authorization is the result of AuthorizeBegin: what update and finish
// must check for this operation.
type Authorization struct {
	kind     authKind
	verifier tokens.Verifier // SIDs and type mask; MAC under the auth-token key
}

// AuthorizeBegin checks a key's policy and, for timeout-based keys, the
// HAT presented to begin (hat: 0 bytes = none, else the 69-byte
// hw_auth_token_t). The rules (AOSP Tag.aidl, keymaster_enforcement.cpp and KeyMint's ta/src/operation.rs):
//
//   - per-operation keys: begin needs no HAT and checks none
//     (IKeyMintDevice::begin: USER_SECURE_ID enforced at begin iff the key
//     has AUTH_TIMEOUT; VTS AuthPerOperation: begin with an unrelated HAT
//     succeeds);
//   - timeout keys: a HAT is required; its MAC must verify, its
//     authenticator type must intersect USER_AUTH_TYPE, its user_id or
//     authenticator_id must equal one of the key's SIDs, and it must not be
//     older than AUTH_TIMEOUT at begin: now − timestamp > timeout·1000 ms
//     fails (Trusty auth_token_timed_out, KMR check_auth_token). The check
//     order is that of tokens.Verifier (version, MAC, challenge, type,
//     SID, freshness).
//
// Every authentication failure is KEY_USER_NOT_AUTHENTICATED (-26) wrapping
// the precise reason (tokens.ErrBadMAC, tokens.ErrExpired, ErrNoAuthToken,
// ...).
func (e *Enforcer) AuthorizeBegin(p AuthPolicy, hat []byte) (Authorization, error) {
	k, err := p.kind()
	if err != nil {
		return Authorization{}, err
	}
	a := Authorization{kind: k}
	if k == authNone {
		return a, nil
	}
	a.verifier = tokens.NewVerifier(e.MAC).
		WithSecureIDs(p.SecureIDs...).
		WithAuthenticatorTypes(p.AuthType)
	if k == authTimeout {
		v := a.verifier.WithFreshness(e.Clock.NowMs(), time.Duration(p.TimeoutSeconds)*time.Second)
		if err := check(v, hat); err != nil {
			return Authorization{}, err
		}
	}
	return a, nil
}

// AuthorizeUpdateOrFinish checks the HAT presented to update or finish of
// the operation with the given handle. Keys without authentication and
// timeout keys need nothing here (AuthorizeUpdateOrFinish: "NO_AUTH_REQUIRED
// or AUTH_TIMEOUT → OK"; a TA with a secure clock checked freshness at
// begin). Per-operation keys need a HAT that passes the begin checks
// without freshness and whose challenge equals the operation handle
// (AuthTokenMatches "op_handle != token->challenge"; IKeyMintOperation: a
// valid HAT on every update/finish with challenge == BeginResult.challenge).
func (e *Enforcer) AuthorizeUpdateOrFinish(a Authorization, handle uint64, hat []byte) error {
	if a.kind != authPerOp {
		return nil
	}
	return check(a.verifier.WithChallenge(handle), hat)
}

func check(v tokens.Verifier, hat []byte) error {
	if len(hat) == 0 {
		return &kmproto.Error{Code: kmproto.ErrorKeyUserNotAuthenticated, Err: ErrNoAuthToken}
	}
	if _, err := v.Verify(hat); err != nil {
		return &kmproto.Error{Code: kmproto.ErrorKeyUserNotAuthenticated, Err: err}
	}
	return nil
}
