package keymaster

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/keymaster/keymastertest"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/boot"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/tacore"
	"github.com/fpemu/fpemu/tokens"
)

type fixture struct {
	ta      *TA
	clock   *tee.FakeClock
	keys    envelope.Keyring
	storage boot.StorageKey
}

func newFixture(t testing.TB, mutate ...func(*Config)) *fixture {
	t.Helper()
	keys := keymastertest.TestKeyring(1)
	sealer, err := envelope.NewSealer(tee.UUIDKeymaster, keys, nil)
	require.NoError(t, err)
	var sk boot.StorageKey
	for i := range sk {
		sk[i] = byte(i + 1)
	}
	clock := tee.NewFakeClock(testStartMs)
	cfg := Config{Config: tacore.Config{Self: tee.UUIDKeymaster, StorageKey: sk[:], Clock: clock}, Sealer: sealer}
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
	o, err := envelope.NewOpener(tee.UUIDGatekeeper, f.keys, envelope.NewMemoryGuard())
	require.NoError(t, err)
	m, err := keymastertest.AuthTokenMAC(context.Background(), inv, o)
	require.NoError(t, err)
	return m
}

func p256Params(extra ...kmproto.Param) kmproto.Params {
	return append(kmproto.Params{kmproto.AlgorithmParam(kmproto.AlgorithmEC), kmproto.ECCurveParam(kmproto.CurveP256), kmproto.PurposeParam(kmproto.PurposeSign), kmproto.DigestParam(kmproto.DigestSHA256)}, extra...)
}

func sm2Params(extra ...kmproto.Param) kmproto.Params {
	return append(kmproto.Params{kmproto.AlgorithmParam(kmproto.AlgorithmEC), kmproto.ECCurveParam(kmproto.CurveSM2), kmproto.PurposeParam(kmproto.PurposeSign), kmproto.DigestParam(kmproto.DigestSM3)}, extra...)
}

func TestNewTAConfig(t *testing.T) {
	cases := map[string]func(*Config){
		"zero uuid":      func(c *Config) { c.Self = tee.UUID{} },
		"no sealer":      func(c *Config) { c.Sealer = nil },
		"sealer for gk":  func(c *Config) { c.Self = tee.UUIDGatekeeper },
		"no clock":       func(c *Config) { c.Clock = nil },
		"zero storage":   func(c *Config) { c.StorageKey = make([]byte, 16) },
		"no storage":     func(c *Config) { c.StorageKey = nil },
		"short storage":  func(c *Config) { c.StorageKey = []byte{1} },
		"a store":        func(c *Config) { c.DBPath = "km.db" },
		"bad mac choice": func(c *Config) { c.MACAlgorithm = 99 },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			keys := keymastertest.TestKeyring(1)
			sealer, err := envelope.NewSealer(tee.UUIDKeymaster, keys, nil)
			require.NoError(t, err)
			cfg := Config{Config: tacore.Config{Self: tee.UUIDKeymaster, StorageKey: []byte{1, 15: 0}, Clock: tee.NewFakeClock(0)}, Sealer: sealer}
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
		env, err := kmproto.GetAuthTokenKey{Recipient: r}.Execute(ctx, inv)
		require.NoError(t, err)
		require.Len(t, env, kmproto.AuthTokenKeyEnvelopeSize)
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
		_, err := kmproto.GetAuthTokenKey{Recipient: r}.Execute(ctx, inv)
		require.ErrorIs(t, err, tee.ErrAccessDenied, "recipient %s", r)
	}

	// An envelope for the gatekeeper does not open as the fingerprint TA's.
	env, err := kmproto.GetAuthTokenKey{Recipient: tee.UUIDGatekeeper}.Execute(ctx, inv)
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
	p := tee.Params{tee.MemrefIn(make([]byte, 15)), tee.MemrefOut(kmproto.AuthTokenKeyEnvelopeSize)}
	require.ErrorIs(t, s.Invoke(ctx, uint32(kmproto.CmdGetAuthTokenKey), &p), tee.ErrBadParameters)
	p = tee.Params{tee.MemrefIn(tee.UUIDGatekeeper[:])}
	require.ErrorIs(t, s.Invoke(ctx, uint32(kmproto.CmdGetAuthTokenKey), &p), tee.ErrBadParameters)
	p = tee.Params{tee.MemrefIn(tee.UUIDGatekeeper[:]), tee.MemrefOut(10)}
	require.ErrorIs(t, s.Invoke(ctx, uint32(kmproto.CmdGetAuthTokenKey), &p), tee.ErrShortBuffer)
	assert.EqualValues(t, kmproto.AuthTokenKeyEnvelopeSize, p[1].Size)
	// Access is decided before the buffer size.
	p = tee.Params{tee.MemrefIn(tee.UUIDKeymaster[:]), tee.MemrefOut(10)}
	require.ErrorIs(t, s.Invoke(ctx, uint32(kmproto.CmdGetAuthTokenKey), &p), tee.ErrAccessDenied)
}

func TestGenerateAndSignNoAuth(t *testing.T) {
	ctx := context.Background()
	for name, ps := range map[string]kmproto.Params{
		"P256": p256Params(kmproto.NoAuthRequiredParam()),
		"SM2":  sm2Params(kmproto.NoAuthRequiredParam()),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			inv := f.session()
			k, err := kmproto.GenerateKey{Params: ps}.Execute(ctx, inv)
			require.NoError(t, err)
			require.Len(t, k.PublicKey, kmproto.PublicKeySize)
			got, err := kmproto.BlobParams(k.Blob)
			require.NoError(t, err)
			enc, err := ps.Marshal()
			require.NoError(t, err)
			want, err := kmproto.ParseParams(enc)
			require.NoError(t, err)
			assert.Equal(t, want, got)

			h, err := kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
			require.NoError(t, err)
			require.NoError(t, kmproto.Update{Handle: h, Input: []byte("hello, ")}.Execute(ctx, inv))
			sig, err := kmproto.Finish{Handle: h, Input: []byte("world")}.Execute(ctx, inv)
			require.NoError(t, err)
			curve := kmproto.ECCurve(want.Ints(kmproto.TagECCurve)[0])
			require.NoError(t, kmproto.VerifySignature(curve, k.PublicKey, []byte("hello, world"), sig))
			require.ErrorIs(t, kmproto.VerifySignature(curve, k.PublicKey, []byte("hello, world!"), sig), kmproto.ErrBadSignature)
			assert.Zero(t, f.ta.Operations())
		})
	}
}

func TestGenerateKeyRejects(t *testing.T) {
	ctx := context.Background()
	inv := newFixture(t).session()
	base := func(drop kmproto.Tag, extra ...kmproto.Param) kmproto.Params {
		var ps kmproto.Params
		for _, p := range p256Params() {
			if p.Tag != drop {
				ps = append(ps, p)
			}
		}
		return append(ps, extra...)
	}
	cases := []struct {
		name string
		ps   kmproto.Params
		want *kmproto.Error
	}{
		{"no algorithm", base(kmproto.TagAlgorithm), kmproto.ErrUnsupportedAlgorithm},
		{"RSA", base(kmproto.TagAlgorithm, kmproto.AlgorithmParam(kmproto.AlgorithmRSA)), kmproto.ErrUnsupportedAlgorithm},
		{"no curve", base(kmproto.TagECCurve), kmproto.ErrUnsupportedECCurve},
		{"P-384", base(kmproto.TagECCurve, kmproto.ECCurveParam(2)), kmproto.ErrUnsupportedECCurve},
		{"key size 384", base(0, kmproto.KeySizeParam(384)), kmproto.ErrUnsupportedKeySize},
		{"no purpose", base(kmproto.TagPurpose), kmproto.ErrUnsupportedPurpose},
		{"encrypt purpose", base(0, kmproto.PurposeParam(kmproto.PurposeEncrypt)), kmproto.ErrUnsupportedPurpose},
		{"unknown digest", base(kmproto.TagDigest, kmproto.DigestParam(5)), kmproto.ErrUnsupportedDigest},
		{"no digest", base(kmproto.TagDigest), kmproto.ErrIncompatibleDigest},
		{"SM3 on P-256", base(kmproto.TagDigest, kmproto.DigestParam(kmproto.DigestSM3)), kmproto.ErrIncompatibleDigest},
		{"two digests", base(0, kmproto.DigestParam(kmproto.DigestNone)), kmproto.ErrIncompatibleDigest},
		{"unsupported tag", base(0, kmproto.Param{Tag: kmproto.Tag(kmproto.TypeDate) | 400, Int: 1}), kmproto.ErrUnsupportedTag},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kmproto.GenerateKey{Params: tc.ps}.Execute(ctx, inv)
			require.ErrorIs(t, err, tc.want)
		})
	}
	// Malformed parameter bytes on the wire: INVALID_ARGUMENT.
	p := tee.Params{tee.MemrefIn([]byte{0, 0, 0, 1, 0xB0, 0, 0, 1}), tee.MemrefOut(4096), tee.MemrefOut(kmproto.PublicKeySize)}
	err := inv.Invoke(ctx, uint32(kmproto.CmdGenerateKey), &p)
	require.ErrorIs(t, kmproto.FromTEE(err), kmproto.ErrInvalidArgument)
	// The result code on the wire is ResultBase | 38.
	assert.Equal(t, tee.Result(0x4B4D0026), tee.ResultOf(err))
}

func TestGenerateKeyShortBuffer(t *testing.T) {
	ctx := context.Background()
	inv := newFixture(t).session()
	enc, err := p256Params(kmproto.NoAuthRequiredParam()).Marshal()
	require.NoError(t, err)
	p := tee.Params{tee.MemrefIn(enc), tee.MemrefOut(10), tee.MemrefOut(kmproto.PublicKeySize)}
	require.ErrorIs(t, inv.Invoke(ctx, uint32(kmproto.CmdGenerateKey), &p), tee.ErrShortBuffer)
	assert.EqualValues(t, kmproto.BlobSize(len(enc)), p[1].Size)
	assert.EqualValues(t, kmproto.PublicKeySize, p[2].Size)
}

func TestKeyBlobTamper(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	inv := f.session()
	k, err := kmproto.GenerateKey{Params: sm2Params(kmproto.NoAuthRequiredParam())}.Execute(ctx, inv)
	require.NoError(t, err)

	begin := func(blob []byte) error {
		_, err := kmproto.Begin{Blob: blob, Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
		return err
	}
	// Every single-byte change anywhere in the blob is INVALID_KEY_BLOB.
	for i := range k.Blob {
		b := append([]byte(nil), k.Blob...)
		b[i] ^= 0x01
		require.ErrorIs(t, begin(b), kmproto.ErrInvalidKeyBlob, "byte %d", i)
	}
	// A rewritten parameter set (NO_AUTH_REQUIRED swapped for a harmless
	// tag of the same size would still change bytes) — here: parameters
	// re-encoded without NO_AUTH_REQUIRED, blob otherwise kept.
	ps, err := kmproto.BlobParams(k.Blob)
	require.NoError(t, err)
	var stripped kmproto.Params
	for _, p := range ps {
		if p.Tag != kmproto.TagNoAuthRequired {
			stripped = append(stripped, p)
		}
	}
	enc, err := stripped.Marshal()
	require.NoError(t, err)
	oldLen := len(k.Blob) - kmproto.BlobSize(0)
	forged := append(append(append([]byte(nil), k.Blob[:5]...), 0, 0, 0, byte(len(enc))), enc...)
	forged = append(forged, k.Blob[kmproto.BlobHeaderSize+oldLen:]...)
	_, err = kmproto.BlobParams(forged)
	require.NoError(t, err, "forged blob is well-formed")
	require.ErrorIs(t, begin(forged), kmproto.ErrInvalidKeyBlob)

	for name, b := range map[string][]byte{
		"empty":     nil,
		"truncated": k.Blob[:len(k.Blob)-1],
		"extended":  append(append([]byte(nil), k.Blob...), 0),
		"huge":      make([]byte, kmproto.MaxBlobSize+1),
	} {
		require.ErrorIs(t, begin(b), kmproto.ErrInvalidKeyBlob, name)
	}

	// A blob sealed under another storage key (another device) is refused.
	other := newFixture(t, func(c *Config) { c.StorageKey[0] ^= 0xFF })
	_, err = kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, other.session())
	require.ErrorIs(t, err, kmproto.ErrInvalidKeyBlob)

	// The untouched blob still works.
	require.NoError(t, begin(k.Blob))
}

func TestBeginPurpose(t *testing.T) {
	ctx := context.Background()
	inv := newFixture(t).session()
	k, err := kmproto.GenerateKey{Params: p256Params(kmproto.NoAuthRequiredParam())}.Execute(ctx, inv)
	require.NoError(t, err)
	_, err = kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeVerify}.Execute(ctx, inv)
	require.ErrorIs(t, err, kmproto.ErrUnsupportedPurpose)

	verifyOnly := kmproto.Params{kmproto.AlgorithmParam(kmproto.AlgorithmEC), kmproto.ECCurveParam(kmproto.CurveP256), kmproto.PurposeParam(kmproto.PurposeVerify), kmproto.DigestParam(kmproto.DigestSHA256), kmproto.NoAuthRequiredParam()}
	k, err = kmproto.GenerateKey{Params: verifyOnly}.Execute(ctx, inv)
	require.NoError(t, err)
	_, err = kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
	require.ErrorIs(t, err, kmproto.ErrIncompatiblePurpose)
}

func TestAuthAndNoAuthOverWire(t *testing.T) {
	ctx := context.Background()
	inv := newFixture(t).session()
	k, err := kmproto.GenerateKey{Params: p256Params(kmproto.NoAuthRequiredParam(), kmproto.UserSecureIDParam(1), kmproto.UserAuthTypeParam(tokens.AuthAny))}.Execute(ctx, inv)
	require.NoError(t, err)
	_, err = kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
	require.ErrorIs(t, err, kmproto.ErrInvalidKeyBlob)

	k, err = kmproto.GenerateKey{Params: p256Params(kmproto.UserSecureIDParam(1))}.Execute(ctx, inv)
	require.NoError(t, err)
	_, err = kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
	require.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated, "SID without USER_AUTH_TYPE")
}

func TestOperationLifecycle(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(c *Config) { c.MaxOperations = 3; c.NoPruning = true })
	inv := f.session()
	k, err := kmproto.GenerateKey{Params: p256Params(kmproto.NoAuthRequiredParam())}.Execute(ctx, inv)
	require.NoError(t, err)

	// Unknown handles.
	for _, h := range []uint64{0, 1, 0xFFFFFFFFFFFFFFFF} {
		require.ErrorIs(t, kmproto.Update{Handle: h}.Execute(ctx, inv), kmproto.ErrInvalidOperationHandle)
		_, err := kmproto.Finish{Handle: h}.Execute(ctx, inv)
		require.ErrorIs(t, err, kmproto.ErrInvalidOperationHandle)
		require.ErrorIs(t, kmproto.Abort{Handle: h}.Execute(ctx, inv), kmproto.ErrInvalidOperationHandle)
	}

	// Cap on concurrent operations; handles are distinct and non-zero.
	seen := map[uint64]bool{}
	var hs []uint64
	for range 3 {
		h, err := kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
		require.NoError(t, err)
		require.NotZero(t, h)
		require.False(t, seen[h])
		seen[h] = true
		hs = append(hs, h)
	}
	_, err = kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
	require.ErrorIs(t, err, kmproto.ErrTooManyOperations)

	// Another session cannot touch this session's operations.
	other := f.session()
	require.ErrorIs(t, kmproto.Abort{Handle: hs[0]}.Execute(ctx, other), kmproto.ErrInvalidOperationHandle)

	// Abort frees a slot; a finished or aborted handle is gone.
	require.NoError(t, kmproto.Abort{Handle: hs[0]}.Execute(ctx, inv))
	require.ErrorIs(t, kmproto.Abort{Handle: hs[0]}.Execute(ctx, inv), kmproto.ErrInvalidOperationHandle)
	_, err = kmproto.Finish{Handle: hs[1]}.Execute(ctx, inv)
	require.NoError(t, err)
	_, err = kmproto.Finish{Handle: hs[1]}.Execute(ctx, inv)
	require.ErrorIs(t, err, kmproto.ErrInvalidOperationHandle)
	assert.Equal(t, 1, f.ta.Operations())

	// A short signature buffer does not consume the operation.
	a, b := kmproto.HandleParam(hs[2])
	p := tee.Params{tee.Value(a, b), tee.MemrefIn(nil), tee.MemrefIn(nil), tee.MemrefOut(8)}
	require.ErrorIs(t, inv.Invoke(ctx, uint32(kmproto.CmdFinish), &p), tee.ErrShortBuffer)
	assert.EqualValues(t, kmproto.MaxSignatureSize, p[3].Size)
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
	k, err := kmproto.GenerateKey{Params: sm2Params(kmproto.UserSecureIDParam(sid), kmproto.UserAuthTypeParam(tokens.AuthPassword))}.Execute(ctx, inv)
	require.NoError(t, err)
	h, err := kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
	require.NoError(t, err)
	mint := func(challenge uint64) []byte {
		tk := tokens.Token{Challenge: challenge, UserID: sid, AuthenticatorType: tokens.AuthPassword, Timestamp: f.clock.NowMs()}
		mac.Sign(&tk)
		return tk.Marshal()
	}
	_, err = kmproto.Finish{Handle: h, HAT: mint(h + 1)}.Execute(ctx, inv)
	require.ErrorIs(t, err, kmproto.ErrKeyUserNotAuthenticated)
	assert.Zero(t, f.ta.Operations())
	_, err = kmproto.Finish{Handle: h, HAT: mint(h)}.Execute(ctx, inv)
	require.ErrorIs(t, err, kmproto.ErrInvalidOperationHandle)
}

func TestCommandParamTypes(t *testing.T) {
	ctx := context.Background()
	inv := newFixture(t).session()
	for _, cmd := range []kmproto.Command{kmproto.CmdGenerateKey, kmproto.CmdBegin, kmproto.CmdUpdate, kmproto.CmdFinish, kmproto.CmdAbort, kmproto.CmdGetAuthTokenKey} {
		p := tee.Params{tee.ValueOut(), tee.ValueOut(), tee.ValueOut(), tee.ValueOut()}
		require.ErrorIs(t, inv.Invoke(ctx, uint32(cmd), &p), tee.ErrBadParameters, "cmd %s", cmd)
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
		k, err := kmproto.GenerateKey{Params: p256Params(kmproto.NoAuthRequiredParam())}.Execute(ctx, inv)
		require.NoError(t, err)
		blobs = append(blobs, k.Blob)
	}
	assert.Len(t, f.ta.keys.m, keyCacheSize)
	assert.Len(t, f.ta.keys.order, keyCacheSize)
	// An evicted key is reloaded from its blob; a cached one is used as is.
	for _, b := range [][]byte{blobs[0], blobs[len(blobs)-1]} {
		h, err := kmproto.Begin{Blob: b, Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
		require.NoError(t, err)
		require.NoError(t, kmproto.Abort{Handle: h}.Execute(ctx, inv))
	}
	assert.Len(t, f.ta.keys.m, keyCacheSize)
}
