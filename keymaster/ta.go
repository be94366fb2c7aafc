package keymaster

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/tacore"
	"github.com/fpemu/fpemu/tokens"
)

// Config holds the explicit dependencies of a Keymaster TA: the base every
// TA shares, of which Keymaster uses Self (tee.UUIDKeymaster on an fpemu
// device), StorageKey (the key-blob key is derived from it), Clock (the
// device boot clock HAT timestamps are stamped with), Logger (never
// secrets), Rand (the per-boot auth-token key) and MACAlgorithm (the HAT
// MAC). Keymaster keeps no sealed store and opens no envelopes, so Store,
// DBPath, Keys, Opener and BootID must be unset (tacore.Spec.NoStore). The
// process runner (tee/taproc) builds it from the provisioning record.
type Config struct {
	tacore.Config
	// Sealer seals envelopes from Self; it carries the auth-token key to
	// the TAs the manifest routes Keymaster to.
	Sealer *envelope.Sealer
	// MaxOperations caps concurrent operations; 0 means
	// DefaultMaxOperations.
	MaxOperations int
	// NoPruning makes a BEGIN on a full operation table fail with
	// TOO_MANY_OPERATIONS instead of pruning an operation (operation.go):
	// the weakened configuration that shows why pruning exists. Never set
	// on a device.
	NoPruning bool
}

// ErrConfig is matched by NewTA errors for an unusable Config (as is
// tacore.ErrConfig).
var ErrConfig = errors.New("keymaster: bad configuration")

// spec is what tacore needs to know about the Keymaster TA.
var spec = tacore.Spec{Name: "keymaster", Role: tee.RoleKeymaster, NoStore: true, ErrConfig: ErrConfig}

// TA is the Keymaster trusted application. It is safe for concurrent use
// by many sessions. Identity, clock, logger and randomness are the shared
// core's (tacore).
type TA struct {
	*tacore.Core
	blobs   *blobSealer
	enf     Enforcer
	ops     *opTable
	keys    *keyCache
	sealer  *envelope.Sealer
	mux     *rpc.Mux[*session, kmproto.Command]
	authKey [tokens.KeySize]byte // per-boot auth-token key; never logged, never returned in clear
	nextSID atomic.Uint64        // session ids
}

// NewTA builds a Keymaster TA. It draws the per-boot auth-token key, 32
// bytes from cfg.Rand (crypto/rand by default; Trusty AUTH_TOKEN_KEY_LEN;
// on Trusty it is the ISharedSecret HMAC key, agreed once per boot), so
// every TA instance — every boot — has a fresh key.
func NewTA(cfg Config) (*TA, error) {
	core, err := tacore.New(cfg.Config, spec)
	if err != nil {
		return nil, err
	}
	if cfg.Sealer == nil || cfg.Sealer.Self() != cfg.Self {
		return nil, fmt.Errorf("%w: %w: envelope sealer missing or not for %s", ErrConfig, tacore.ErrConfig, cfg.Self)
	}
	if len(cfg.StorageKey) == 0 || !slices.ContainsFunc(cfg.StorageKey, func(b byte) bool { return b != 0 }) {
		return nil, fmt.Errorf("%w: %w: zero storage key", ErrConfig, tacore.ErrConfig)
	}
	blobs, err := newBlobSealer(cfg.StorageKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %v", ErrConfig, tacore.ErrConfig, err)
	}
	mux, err := rpc.NewMux("keymaster", commands)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	ta := &TA{
		Core:   core,
		blobs:  blobs,
		ops:    newOpTable(cfg.MaxOperations),
		keys:   newKeyCache(),
		sealer: cfg.Sealer,
		mux:    mux,
	}
	ta.ops.noPrune = cfg.NoPruning
	if _, err := io.ReadFull(ta.Rand, ta.authKey[:]); err != nil {
		return nil, fmt.Errorf("keymaster: auth-token key: %w", err)
	}
	mac, err := tokens.NewMAC(cfg.MACAlgorithm, ta.authKey[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %v", ErrConfig, tacore.ErrConfig, err)
	}
	ta.enf = Enforcer{Clock: cfg.Clock, MAC: mac}
	ta.Log.Info("keymaster TA ready",
		zap.Stringer("uuid", cfg.Self),
		zap.Int("max_operations", ta.ops.max),
		zap.Stringer("hat_mac", cfg.MACAlgorithm))
	return ta, nil
}

// getAuthTokenKey returns the auth-token key sealed (envelope type
// MsgAuthTokenKey, payload the raw 32-byte key as in Trusty's
// KM_GET_AUTH_TOKEN_KEY response) for recipient. Only recipients the
// manifest routes Keymaster to get it (Trusty restricts the secure port by
// UUID, keymaster_check_target_access_policy); any other recipient is
// TEEC_ERROR_ACCESS_DENIED.
func (ta *TA) getAuthTokenKey(recipient tee.UUID) ([]byte, error) {
	if err := ta.checkRecipient(recipient); err != nil {
		return nil, err
	}
	env, err := ta.sealer.Seal(recipient, envelope.MsgAuthTokenKey, ta.authKey[:])
	if err != nil {
		if errors.Is(err, envelope.ErrNoRoute) || errors.Is(err, envelope.ErrBadType) {
			return nil, tee.Errorf(tee.ResultAccessDenied, tee.OriginTrustedApp, "%v", err)
		}
		return nil, tee.Errorf(tee.ResultGeneric, tee.OriginTrustedApp, "seal auth-token key: %v", err)
	}
	ta.Log.Info("auth-token key sealed", zap.Stringer("recipient", recipient), zap.Int("envelope_len", len(env)))
	return env, nil
}

// checkRecipient refuses (TEEC_ERROR_ACCESS_DENIED) a recipient the
// manifest does not route Keymaster to.
func (ta *TA) checkRecipient(recipient tee.UUID) error {
	if !tee.RouteAllowed(ta.Self, recipient) {
		return tee.Errorf(tee.ResultAccessDenied, tee.OriginTrustedApp,
			"no manifest route from keymaster to %s", recipient)
	}
	return nil
}

// generateKey validates and canonicalises a key-parameter list, generates
// the key and returns its sealed blob and public key. Malformed parameters
// are INVALID_ARGUMENT (an invalid tag type INVALID_TAG); unsupported ones
// as checkKeyParams says.
func (ta *TA) generateKey(rawParams []byte) (blob, pub []byte, err error) {
	params, err := kmproto.ParseParams(rawParams)
	if err != nil {
		return nil, nil, &kmproto.Error{Code: kmproto.ErrorInvalidArgument, Err: err}
	}
	spec, err := checkKeyParams(params)
	if err != nil {
		return nil, nil, err
	}
	canon, err := params.Marshal()
	if err != nil {
		return nil, nil, &kmproto.Error{Code: kmproto.ErrorInvalidArgument, Err: err}
	}
	scalar, err := generateScalar(spec.curve)
	if err != nil {
		return nil, nil, kmErr(kmproto.ErrorUnknownError, "generate key: %v", err)
	}
	defer clear(scalar)
	key, err := loadKey(spec.curve, scalar)
	if err != nil {
		return nil, nil, kmErr(kmproto.ErrorUnknownError, "load key: %v", err)
	}
	blob, err = ta.blobs.seal(canon, scalar)
	if err != nil {
		return nil, nil, kmErr(kmproto.ErrorUnknownError, "seal key: %v", err)
	}
	ta.keys.put(sha256.Sum256(blob), &loadedKey{params: params, spec: spec, key: key})
	pol := PolicyOf(params)
	ta.Log.Info("key generated",
		zap.Uint32("ec_curve", uint32(spec.curve)),
		zap.Int("secure_ids", len(pol.SecureIDs)),
		zap.Bool("no_auth_required", pol.NoAuthRequired),
		zap.Bool("auth_timeout", pol.HasTimeout))
	return blob, key.pub, nil
}

// begin opens blob, checks the purpose and the key's authentication policy
// (Enforcer.AuthorizeBegin) and starts a signing operation. It returns the
// operation handle, which is also the challenge a per-operation HAT must
// carry (BeginResult.challenge).
func (ta *TA) begin(owner, client uint64, blob []byte, purpose kmproto.Purpose, hat []byte) (uint64, error) {
	k, err := ta.loadBlob(blob)
	if err != nil {
		return 0, err
	}
	// KeyMint begin: asymmetric public-key operations (VERIFY, ENCRYPT)
	// are UNSUPPORTED_PURPOSE; a purpose the key lacks is
	// INCOMPATIBLE_PURPOSE (Tag.aidl PURPOSE).
	if purpose != kmproto.PurposeSign {
		return 0, kmErr(kmproto.ErrorUnsupportedPurpose, "purpose %d: the TA only signs", purpose)
	}
	if !slices.Contains(k.params.Ints(kmproto.TagPurpose), uint64(kmproto.PurposeSign)) {
		return 0, kmErr(kmproto.ErrorIncompatiblePurpose, "key lacks PURPOSE SIGN")
	}
	auth, err := ta.enf.AuthorizeBegin(PolicyOf(k.params), hat)
	if err != nil {
		ta.Log.Info("begin refused", zap.Error(err))
		return 0, err
	}
	op := &operation{owner: owner, client: client, auth: auth, signer: k.key.newSigner()}
	before := ta.ops.pruned.Load()
	h, err := ta.ops.add(op)
	if err != nil {
		return 0, err
	}
	if ta.ops.pruned.Load() != before {
		ta.Log.Info("operation table full: pruned an operation for a new BEGIN")
	}
	return h, nil
}

// authorizeOp fetches operation h of owner and checks the HAT for an
// update or finish; an authentication failure destroys the operation
// (KMR: "any error destroys the operation"). On success the operation is
// returned locked.
func (ta *TA) authorizeOp(owner, h uint64, hat []byte) (*operation, error) {
	op, err := ta.ops.get(h, owner)
	if err != nil {
		return nil, err
	}
	if err := ta.enf.AuthorizeUpdateOrFinish(op.auth, h, hat); err != nil {
		ta.ops.end(op)
		ta.Log.Info("operation refused and destroyed", zap.Error(err))
		return nil, err
	}
	return op, nil
}

// update absorbs input into operation h.
func (ta *TA) update(owner, h uint64, input, hat []byte) error {
	op, err := ta.authorizeOp(owner, h, hat)
	if err != nil {
		return err
	}
	op.signer.Write(input)
	op.mu.Unlock()
	return nil
}

// finish absorbs input, signs and ends operation h.
func (ta *TA) finish(owner, h uint64, input, hat []byte) ([]byte, error) {
	op, err := ta.authorizeOp(owner, h, hat)
	if err != nil {
		return nil, err
	}
	defer ta.ops.end(op)
	op.signer.Write(input)
	sig, err := op.signer.Sign()
	if err != nil {
		return nil, kmErr(kmproto.ErrorUnknownError, "sign: %v", err)
	}
	return sig, nil
}

// abort ends operation h.
func (ta *TA) abort(owner, h uint64) error {
	op, err := ta.ops.get(h, owner)
	if err != nil {
		return err
	}
	ta.ops.end(op)
	return nil
}

// Operations returns the number of live operations (for tests and
// metrics).
func (ta *TA) Operations() int { return ta.ops.len() }
