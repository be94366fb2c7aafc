package keymaster

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/boot"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

// testKeyring: deterministic pairwise keys for every manifest route.
func testKeyring(gen byte) envelope.Keyring {
	k := make(envelope.Keyring)
	for i, r := range tee.Routes {
		var key envelope.Key
		for j := range key {
			key[j] = byte(0x21*(i+1)) ^ byte(j) ^ gen
		}
		k[r] = key
	}
	return k
}

type fixture struct {
	ta      *TA
	clock   *tee.FakeClock
	keys    envelope.Keyring
	storage boot.StorageKey
}

func newFixture(t testing.TB, mutate ...func(*Config)) *fixture {
	t.Helper()
	keys := testKeyring(1)
	sealer, err := envelope.NewSealer(tee.UUIDKeymaster, keys, nil)
	require.NoError(t, err)
	var sk boot.StorageKey
	for i := range sk {
		sk[i] = byte(i + 1)
	}
	clock := tee.NewFakeClock(testStartMs)
	cfg := Config{Self: tee.UUIDKeymaster, StorageKey: sk, Sealer: sealer, Clock: clock}
	for _, m := range mutate {
		m(&cfg)
	}
	ta, err := NewTA(cfg)
	require.NoError(t, err)
	return &fixture{ta: ta, clock: clock, keys: keys, storage: sk}
}

// direct is an in-process Invoker bound to one session.
type direct struct{ s *session }

func (d direct) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	return d.s.Invoke(ctx, cmd, p)
}

func (f *fixture) session() direct { return direct{f.ta.newSession(0)} }

// authMAC obtains the auth-token key as the gatekeeper does.
func (f *fixture) authMAC(t testing.TB, inv rpc.Invoker) *tokens.MAC {
	t.Helper()
	env, err := GetAuthTokenKey{Recipient: tee.UUIDGatekeeper}.Execute(context.Background(), inv)
	require.NoError(t, err)
	o, err := envelope.NewOpener(tee.UUIDGatekeeper, f.keys, envelope.NewMemoryGuard())
	require.NoError(t, err)
	msg, err := o.Open(env)
	require.NoError(t, err)
	require.Equal(t, envelope.MsgAuthTokenKey, msg.Type)
	require.Len(t, msg.Payload, tokens.KeySize)
	m, err := tokens.NewMAC(tokens.HMACSHA256, msg.Payload)
	require.NoError(t, err)
	return m
}

func p256Params(extra ...Param) Params {
	return append(Params{AlgorithmParam(AlgorithmEC), ECCurveParam(CurveP256), PurposeParam(PurposeSign), DigestParam(DigestSHA256)}, extra...)
}

func sm2Params(extra ...Param) Params {
	return append(Params{AlgorithmParam(AlgorithmEC), ECCurveParam(CurveSM2), PurposeParam(PurposeSign), DigestParam(DigestSM3)}, extra...)
}

func TestNewTAConfig(t *testing.T) {
	cases := map[string]func(*Config){
		"zero uuid":      func(c *Config) { c.Self = tee.UUID{} },
		"no sealer":      func(c *Config) { c.Sealer = nil },
		"sealer for gk":  func(c *Config) { c.Self = tee.UUIDGatekeeper },
		"no clock":       func(c *Config) { c.Clock = nil },
		"zero storage":   func(c *Config) { c.StorageKey = boot.StorageKey{} },
		"bad mac choice": func(c *Config) { c.MACAlgorithm = 99 },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			keys := testKeyring(1)
			sealer, err := envelope.NewSealer(tee.UUIDKeymaster, keys, nil)
			require.NoError(t, err)
			cfg := Config{Self: tee.UUIDKeymaster, StorageKey: boot.StorageKey{1}, Sealer: sealer, Clock: tee.NewFakeClock(0)}
			mut(&cfg)
			_, err = NewTA(cfg)
			require.ErrorIs(t, err, ErrConfig)
		})
	}
}

func TestGetAuthTokenKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	inv := f.session()

	// Every TA the manifest routes Keymaster to can open its envelope, and
	// gets the same per-boot key.
	var keys [][]byte
	for _, r := range []tee.UUID{tee.UUIDGatekeeper, tee.UUIDFingerprint, tee.UUIDPayment} {
		env, err := GetAuthTokenKey{Recipient: r}.Execute(ctx, inv)
		require.NoError(t, err)
		require.Len(t, env, AuthTokenKeyEnvelopeSize)
		o, err := envelope.NewOpener(r, f.keys, envelope.NewMemoryGuard())
		require.NoError(t, err)
		msg, err := o.Open(env)
		require.NoError(t, err)
		assert.Equal(t, tee.UUIDKeymaster, msg.From)
		keys = append(keys, msg.Payload)
		assert.NotContains(t, string(env), string(msg.Payload), "key must not travel in clear")
	}
	assert.Equal(t, keys[0], keys[1])
	assert.Equal(t, keys[0], keys[2])
	assert.Equal(t, f.ta.authKey[:], keys[0])

	// Nobody else: not Keymaster itself, not an unknown or zero UUID.
	for _, r := range []tee.UUID{tee.UUIDKeymaster, {}, tee.MustParseUUID("00112233-4455-6677-8899-aabbccddeeff")} {
		_, err := GetAuthTokenKey{Recipient: r}.Execute(ctx, inv)
		require.ErrorIs(t, err, tee.ErrAccessDenied, "recipient %s", r)
	}

	// An envelope for the gatekeeper does not open as the fingerprint TA's.
	env, err := GetAuthTokenKey{Recipient: tee.UUIDGatekeeper}.Execute(ctx, inv)
	require.NoError(t, err)
	fp, err := envelope.NewOpener(tee.UUIDFingerprint, f.keys, envelope.NewMemoryGuard())
	require.NoError(t, err)
	_, err = fp.Open(env)
	require.ErrorIs(t, err, envelope.ErrWrongRecipient)

	// A second TA instance (another boot) has another key.
	other := newFixture(t)
	assert.NotEqual(t, f.ta.authKey, other.ta.authKey)
}

func TestGetAuthTokenKeyParams(t *testing.T) {
	ctx := context.Background()
	s := newFixture(t).session()
	p := tee.Params{tee.MemrefIn(make([]byte, 15)), tee.MemrefOut(AuthTokenKeyEnvelopeSize)}
	require.ErrorIs(t, s.Invoke(ctx, CmdGetAuthTokenKey, &p), tee.ErrBadParameters)
	p = tee.Params{tee.MemrefIn(tee.UUIDGatekeeper[:])}
	require.ErrorIs(t, s.Invoke(ctx, CmdGetAuthTokenKey, &p), tee.ErrBadParameters)
	p = tee.Params{tee.MemrefIn(tee.UUIDGatekeeper[:]), tee.MemrefOut(10)}
	require.ErrorIs(t, s.Invoke(ctx, CmdGetAuthTokenKey, &p), tee.ErrShortBuffer)
	assert.EqualValues(t, AuthTokenKeyEnvelopeSize, p[1].Size)
	// Access is decided before the buffer size.
	p = tee.Params{tee.MemrefIn(tee.UUIDKeymaster[:]), tee.MemrefOut(10)}
	require.ErrorIs(t, s.Invoke(ctx, CmdGetAuthTokenKey, &p), tee.ErrAccessDenied)
}

func TestGenerateAndSignNoAuth(t *testing.T) {
	ctx := context.Background()
	for name, ps := range map[string]Params{
		"P256": p256Params(NoAuthRequiredParam()),
		"SM2":  sm2Params(NoAuthRequiredParam()),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			inv := f.session()
			k, err := GenerateKey{Params: ps}.Execute(ctx, inv)
			require.NoError(t, err)
			require.Len(t, k.PublicKey, PublicKeySize)
			got, err := BlobParams(k.Blob)
			require.NoError(t, err)
			want, err := ps.canonical()
			require.NoError(t, err)
			assert.Equal(t, want, got)

			h, err := Begin{Blob: k.Blob, Purpose: PurposeSign}.Execute(ctx, inv)
			require.NoError(t, err)
			require.NoError(t, Update{Handle: h, Input: []byte("hello, ")}.Execute(ctx, inv))
			sig, err := Finish{Handle: h, Input: []byte("world")}.Execute(ctx, inv)
			require.NoError(t, err)
			curve := ECCurve(want.Ints(TagECCurve)[0])
			require.NoError(t, VerifySignature(curve, k.PublicKey, []byte("hello, world"), sig))
			require.ErrorIs(t, VerifySignature(curve, k.PublicKey, []byte("hello, world!"), sig), ErrBadSignature)
			assert.Zero(t, f.ta.Operations())
		})
	}
}

func TestGenerateKeyRejects(t *testing.T) {
	ctx := context.Background()
	inv := newFixture(t).session()
	base := func(drop Tag, extra ...Param) Params {
		var ps Params
		for _, p := range p256Params() {
			if p.Tag != drop {
				ps = append(ps, p)
			}
		}
		return append(ps, extra...)
	}
	cases := []struct {
		name string
		ps   Params
		want *Error
	}{
		{"no algorithm", base(TagAlgorithm), ErrUnsupportedAlgorithm},
		{"RSA", base(TagAlgorithm, AlgorithmParam(AlgorithmRSA)), ErrUnsupportedAlgorithm},
		{"no curve", base(TagECCurve), ErrUnsupportedECCurve},
		{"P-384", base(TagECCurve, ECCurveParam(2)), ErrUnsupportedECCurve},
		{"key size 384", base(0, KeySizeParam(384)), ErrUnsupportedKeySize},
		{"no purpose", base(TagPurpose), ErrUnsupportedPurpose},
		{"encrypt purpose", base(0, PurposeParam(PurposeEncrypt)), ErrUnsupportedPurpose},
		{"unknown digest", base(TagDigest, DigestParam(5)), ErrUnsupportedDigest},
		{"no digest", base(TagDigest), ErrIncompatibleDigest},
		{"SM3 on P-256", base(TagDigest, DigestParam(DigestSM3)), ErrIncompatibleDigest},
		{"two digests", base(0, DigestParam(DigestNone)), ErrIncompatibleDigest},
		{"unsupported tag", base(0, Param{Tag: Tag(TypeDate) | 400, Int: 1}), ErrUnsupportedTag},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := GenerateKey{Params: tc.ps}.Execute(ctx, inv)
			require.ErrorIs(t, err, tc.want)
		})
	}
	// Malformed parameter bytes on the wire: INVALID_ARGUMENT.
	p := tee.Params{tee.MemrefIn([]byte{0, 0, 0, 1, 0xB0, 0, 0, 1}), tee.MemrefOut(4096), tee.MemrefOut(PublicKeySize)}
	err := inv.Invoke(ctx, CmdGenerateKey, &p)
	require.ErrorIs(t, fromTEE(err), ErrInvalidArgument)
	// The result code on the wire is ResultBase | 38.
	assert.Equal(t, tee.Result(0x4B4D0026), tee.ResultOf(err))
}

func TestGenerateKeyShortBuffer(t *testing.T) {
	ctx := context.Background()
	inv := newFixture(t).session()
	enc, err := p256Params(NoAuthRequiredParam()).Marshal()
	require.NoError(t, err)
	p := tee.Params{tee.MemrefIn(enc), tee.MemrefOut(10), tee.MemrefOut(PublicKeySize)}
	require.ErrorIs(t, inv.Invoke(ctx, CmdGenerateKey, &p), tee.ErrShortBuffer)
	assert.EqualValues(t, blobSize(len(enc)), p[1].Size)
	assert.EqualValues(t, PublicKeySize, p[2].Size)
}

func TestKeyBlobTamper(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	inv := f.session()
	k, err := GenerateKey{Params: sm2Params(NoAuthRequiredParam())}.Execute(ctx, inv)
	require.NoError(t, err)

	begin := func(blob []byte) error {
		_, err := Begin{Blob: blob, Purpose: PurposeSign}.Execute(ctx, inv)
		return err
	}
	// Every single-byte change anywhere in the blob is INVALID_KEY_BLOB.
	for i := range k.Blob {
		b := append([]byte(nil), k.Blob...)
		b[i] ^= 0x01
		require.ErrorIs(t, begin(b), ErrInvalidKeyBlob, "byte %d", i)
	}
	// A rewritten parameter set (NO_AUTH_REQUIRED swapped for a harmless
	// tag of the same size would still change bytes) — here: parameters
	// re-encoded without NO_AUTH_REQUIRED, blob otherwise kept.
	ps, err := BlobParams(k.Blob)
	require.NoError(t, err)
	var stripped Params
	for _, p := range ps {
		if p.Tag != TagNoAuthRequired {
			stripped = append(stripped, p)
		}
	}
	enc, err := stripped.Marshal()
	require.NoError(t, err)
	oldLen := len(k.Blob) - blobSize(0)
	forged := append(append(append([]byte(nil), k.Blob[:5]...), 0, 0, 0, byte(len(enc))), enc...)
	forged = append(forged, k.Blob[blobHeaderSize+oldLen:]...)
	_, err = BlobParams(forged)
	require.NoError(t, err, "forged blob is well-formed")
	require.ErrorIs(t, begin(forged), ErrInvalidKeyBlob)

	for name, b := range map[string][]byte{
		"empty":     nil,
		"truncated": k.Blob[:len(k.Blob)-1],
		"extended":  append(append([]byte(nil), k.Blob...), 0),
		"huge":      make([]byte, MaxBlobSize+1),
	} {
		require.ErrorIs(t, begin(b), ErrInvalidKeyBlob, name)
	}

	// A blob sealed under another storage key (another device) is refused.
	other := newFixture(t, func(c *Config) { c.StorageKey[0] ^= 0xFF })
	_, err = Begin{Blob: k.Blob, Purpose: PurposeSign}.Execute(ctx, other.session())
	require.ErrorIs(t, err, ErrInvalidKeyBlob)

	// The untouched blob still works.
	require.NoError(t, begin(k.Blob))
}

func TestBeginPurpose(t *testing.T) {
	ctx := context.Background()
	inv := newFixture(t).session()
	k, err := GenerateKey{Params: p256Params(NoAuthRequiredParam())}.Execute(ctx, inv)
	require.NoError(t, err)
	_, err = Begin{Blob: k.Blob, Purpose: PurposeVerify}.Execute(ctx, inv)
	require.ErrorIs(t, err, ErrUnsupportedPurpose)

	verifyOnly := Params{AlgorithmParam(AlgorithmEC), ECCurveParam(CurveP256), PurposeParam(PurposeVerify), DigestParam(DigestSHA256), NoAuthRequiredParam()}
	k, err = GenerateKey{Params: verifyOnly}.Execute(ctx, inv)
	require.NoError(t, err)
	_, err = Begin{Blob: k.Blob, Purpose: PurposeSign}.Execute(ctx, inv)
	require.ErrorIs(t, err, ErrIncompatiblePurpose)
}

func TestAuthAndNoAuthOverWire(t *testing.T) {
	ctx := context.Background()
	inv := newFixture(t).session()
	k, err := GenerateKey{Params: p256Params(NoAuthRequiredParam(), UserSecureIDParam(1), UserAuthTypeParam(tokens.AuthAny))}.Execute(ctx, inv)
	require.NoError(t, err)
	_, err = Begin{Blob: k.Blob, Purpose: PurposeSign}.Execute(ctx, inv)
	require.ErrorIs(t, err, ErrInvalidKeyBlob)

	k, err = GenerateKey{Params: p256Params(UserSecureIDParam(1))}.Execute(ctx, inv)
	require.NoError(t, err)
	_, err = Begin{Blob: k.Blob, Purpose: PurposeSign}.Execute(ctx, inv)
	require.ErrorIs(t, err, ErrKeyUserNotAuthenticated, "SID without USER_AUTH_TYPE")
}

func TestOperationLifecycle(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(c *Config) { c.MaxOperations = 3; c.NoPruning = true })
	inv := f.session()
	k, err := GenerateKey{Params: p256Params(NoAuthRequiredParam())}.Execute(ctx, inv)
	require.NoError(t, err)

	// Unknown handles.
	for _, h := range []uint64{0, 1, 0xFFFFFFFFFFFFFFFF} {
		require.ErrorIs(t, Update{Handle: h}.Execute(ctx, inv), ErrInvalidOperationHandle)
		_, err := Finish{Handle: h}.Execute(ctx, inv)
		require.ErrorIs(t, err, ErrInvalidOperationHandle)
		require.ErrorIs(t, Abort{Handle: h}.Execute(ctx, inv), ErrInvalidOperationHandle)
	}

	// Cap on concurrent operations; handles are distinct and non-zero.
	seen := map[uint64]bool{}
	var hs []uint64
	for range 3 {
		h, err := Begin{Blob: k.Blob, Purpose: PurposeSign}.Execute(ctx, inv)
		require.NoError(t, err)
		require.NotZero(t, h)
		require.False(t, seen[h])
		seen[h] = true
		hs = append(hs, h)
	}
	_, err = Begin{Blob: k.Blob, Purpose: PurposeSign}.Execute(ctx, inv)
	require.ErrorIs(t, err, ErrTooManyOperations)

	// Another session cannot touch this session's operations.
	other := f.session()
	require.ErrorIs(t, Abort{Handle: hs[0]}.Execute(ctx, other), ErrInvalidOperationHandle)

	// Abort frees a slot; a finished or aborted handle is gone.
	require.NoError(t, Abort{Handle: hs[0]}.Execute(ctx, inv))
	require.ErrorIs(t, Abort{Handle: hs[0]}.Execute(ctx, inv), ErrInvalidOperationHandle)
	_, err = Finish{Handle: hs[1]}.Execute(ctx, inv)
	require.NoError(t, err)
	_, err = Finish{Handle: hs[1]}.Execute(ctx, inv)
	require.ErrorIs(t, err, ErrInvalidOperationHandle)
	assert.Equal(t, 1, f.ta.Operations())

	// A short signature buffer does not consume the operation.
	a, b := handleParam(hs[2])
	p := tee.Params{tee.Value(a, b), tee.MemrefIn(nil), tee.MemrefIn(nil), tee.MemrefOut(8)}
	require.ErrorIs(t, inv.Invoke(ctx, CmdFinish, &p), tee.ErrShortBuffer)
	assert.EqualValues(t, MaxSignatureSize, p[3].Size)
	assert.Equal(t, 1, f.ta.Operations())

	// Closing the session ends its operations.
	inv.s.Close()
	assert.Zero(t, f.ta.Operations())
}

func TestPerOpFailureDestroysOperation(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	inv := f.session()
	mac := f.authMAC(t, inv)
	const sid = 77
	k, err := GenerateKey{Params: sm2Params(UserSecureIDParam(sid), UserAuthTypeParam(tokens.AuthPassword))}.Execute(ctx, inv)
	require.NoError(t, err)
	h, err := Begin{Blob: k.Blob, Purpose: PurposeSign}.Execute(ctx, inv)
	require.NoError(t, err)
	mint := func(challenge uint64) []byte {
		tk := tokens.Token{Challenge: challenge, UserID: sid, AuthenticatorType: tokens.AuthPassword, Timestamp: f.clock.NowMs()}
		mac.Sign(&tk)
		return tk.Marshal()
	}
	_, err = Finish{Handle: h, HAT: mint(h + 1)}.Execute(ctx, inv)
	require.ErrorIs(t, err, ErrKeyUserNotAuthenticated)
	assert.Zero(t, f.ta.Operations())
	_, err = Finish{Handle: h, HAT: mint(h)}.Execute(ctx, inv)
	require.ErrorIs(t, err, ErrInvalidOperationHandle)
}

func TestCommandParamTypes(t *testing.T) {
	ctx := context.Background()
	inv := newFixture(t).session()
	for _, cmd := range []uint32{CmdGenerateKey, CmdBegin, CmdUpdate, CmdFinish, CmdAbort, CmdGetAuthTokenKey} {
		p := tee.Params{tee.ValueOut(), tee.ValueOut(), tee.ValueOut(), tee.ValueOut()}
		require.ErrorIs(t, inv.Invoke(ctx, cmd, &p), tee.ErrBadParameters, "cmd %#x", cmd)
	}
	var p tee.Params
	require.ErrorIs(t, inv.Invoke(ctx, 99, &p), tee.ErrNotSupported)

	_, err := newFixture(t).ta.OpenSession(ctx, &tee.Params{tee.Value(1, 2)})
	require.ErrorIs(t, err, tee.ErrBadParameters)
}

func TestKeyCache(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	inv := f.session()
	var blobs [][]byte
	for range keyCacheSize + 6 {
		k, err := GenerateKey{Params: p256Params(NoAuthRequiredParam())}.Execute(ctx, inv)
		require.NoError(t, err)
		blobs = append(blobs, k.Blob)
	}
	assert.Len(t, f.ta.keys.m, keyCacheSize)
	assert.Len(t, f.ta.keys.order, keyCacheSize)
	// An evicted key is reloaded from its blob; a cached one is used as is.
	for _, b := range [][]byte{blobs[0], blobs[len(blobs)-1]} {
		h, err := Begin{Blob: b, Purpose: PurposeSign}.Execute(ctx, inv)
		require.NoError(t, err)
		require.NoError(t, Abort{Handle: h}.Execute(ctx, inv))
	}
	assert.Len(t, f.ta.keys.m, keyCacheSize)
}
