package payment

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/chantest"
	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/tatest"
)

// establish runs a handshake of profile between the TA and srv.
func establish(t testing.TB, inv rpc.Invoker, srv *channel.Server, p chanwire.Profile) uint32 {
	ctx := testCtx(t)
	h, m1, err := payproto.OpenChannel{Profile: p}.Execute(ctx, inv)
	require.NoError(t, err)
	m2, est, err := srv.Handle(m1)
	require.NoError(t, err)
	require.False(t, est)
	m3, est, err := payproto.ContinueChannel{Handle: h, Msg: m2}.Execute(ctx, inv)
	require.NoError(t, err)
	require.True(t, est)
	_, est, err = srv.Handle(m3)
	require.NoError(t, err)
	require.True(t, est)
	return h
}

func channelDevice(t *testing.T) (*device, *rpc.Session, *chantest.Server) {
	cs := chantest.NewServer(t)
	d := newDevice(t)
	cfg := d.config()
	cfg.Anchors = cs.Anchors(t)
	s := serve(t, tatest.Start(t, NewTA, cfg))
	cs.Provision(testCtx(t), t, s)
	return d, s, cs
}

// TestChannelEveryProfile: each profile establishes between the TA and
// channel.Server; a payment statement is signed and sealed inside the TA;
// the server opens it, finds the device id and user id the TA filled in,
// and verifies the statement; the server's feedback comes back through
// CHANNEL_OPEN_RECORD.
func TestChannelEveryProfile(t *testing.T) {
	d, s, cs := channelDevice(t)
	sc := registered(t, d, s)
	ctx := testCtx(t)
	for _, p := range []chanwire.Profile{chanwire.ProfileGMFS, chanwire.ProfileGM, chanwire.ProfileOpteeRSA} {
		t.Run(p.String(), func(t *testing.T) {
			srv := cs.Channel(t, p)
			h := establish(t, s, srv, p)

			rec, err := payproto.SealMessage{Handle: h, Custom: []byte(`{"hello":1}`)}.Execute(ctx, s)
			require.NoError(t, err)
			m, err := srv.OpenRecord(rec)
			require.NoError(t, err)
			assert.Equal(t, []byte(`{"hello":1}`), m.Custom)
			assert.Len(t, m.DeviceID, 32, "the TA names the device (hex device id)")
			assert.Len(t, m.UserID, 16, "the TA names the caller's client identity")

			c := authorized(t, d, s)
			rec, err = payproto.SealPayment{Handle: h, Ref: sceneRef, Challenge: c, Payload: []byte("order 1")}.Execute(ctx, s)
			require.NoError(t, err)
			m, err = srv.OpenRecord(rec)
			require.NoError(t, err)
			_, err = proof.VerifyPayment(m.Custom, sc, c, []byte("order 1"))
			require.NoError(t, err, "the server verifies the statement the TA sealed")

			fb, err := srv.Seal(chanwire.AppMessage{DeviceID: m.DeviceID, UserID: m.UserID, Custom: []byte("booked")})
			require.NoError(t, err)
			got, err := payproto.OpenChannelRecord{Handle: h, Record: fb}.Execute(ctx, s)
			require.NoError(t, err)
			assert.Equal(t, []byte("booked"), got)
			require.NoError(t, payproto.CloseChannel{Handle: h}.Execute(ctx, s))
			_, err = payproto.SealMessage{Handle: h}.Execute(ctx, s)
			require.ErrorIs(t, err, payproto.ErrNoChannel)
		})
	}
}

// TestChannelRefusals: each rule of §8.11 the TA itself enforces.
func TestChannelRefusals(t *testing.T) {
	_, s, cs := channelDevice(t)
	ctx := testCtx(t)
	csr, err := payproto.ChannelKey{Kind: payproto.ChannelKeySign}.Execute(ctx, s)
	require.NoError(t, err)

	t.Run("certificate from another root", func(t *testing.T) {
		other := chantest.NewCA(t)
		err := payproto.InstallChannelCert{Kind: payproto.ChannelKeySign, DER: other.FromCSR(t, csr, chantest.SignUsage)}.Execute(ctx, s)
		require.ErrorIs(t, err, payproto.ErrBadCertificate)
	})
	t.Run("certificate for a key the TA lacks", func(t *testing.T) {
		k, err := sm2.GenerateKey(rand.Reader)
		require.NoError(t, err)
		c, err := smx509.ParseCertificateRequest(csr)
		require.NoError(t, err)
		err = payproto.InstallChannelCert{Kind: payproto.ChannelKeySign, DER: cs.CA.Issue(t, c.Subject.CommonName, k.Public(), chantest.SignUsage)}.Execute(ctx, s)
		require.ErrorIs(t, err, payproto.ErrBadCertificate)
	})
	t.Run("certificate for the other kind", func(t *testing.T) {
		err := payproto.InstallChannelCert{Kind: payproto.ChannelKeyEnc, DER: cs.CA.FromCSR(t, csr, chantest.EncUsage)}.Execute(ctx, s)
		require.ErrorIs(t, err, payproto.ErrBadCertificate)
	})
	t.Run("certificate naming another device", func(t *testing.T) {
		c, err := smx509.ParseCertificateRequest(csr)
		require.NoError(t, err)
		err = payproto.InstallChannelCert{Kind: payproto.ChannelKeySign, DER: cs.CA.Issue(t, "another-device", c.PublicKey, chantest.SignUsage)}.Execute(ctx, s)
		require.ErrorIs(t, err, payproto.ErrBadCertificate)
	})
	t.Run("handshake check fails: the channel dies", func(t *testing.T) {
		h, _, err := payproto.OpenChannel{}.Execute(ctx, s)
		require.NoError(t, err)
		// The server message of another handshake.
		srv := cs.Channel(t, chanwire.ProfileGMFS)
		_, m1, err := payproto.OpenChannel{}.Execute(ctx, s)
		require.NoError(t, err)
		m2, _, err := srv.Handle(m1)
		require.NoError(t, err)
		_, _, err = payproto.ContinueChannel{Handle: h, Msg: m2}.Execute(ctx, s)
		require.ErrorIs(t, err, payproto.ErrChannelFailed)
		_, _, err = payproto.ContinueChannel{Handle: h, Msg: m2}.Execute(ctx, s)
		require.ErrorIs(t, err, payproto.ErrNoChannel, "dead after an error")
	})
	t.Run("seal before established", func(t *testing.T) {
		h, _, err := payproto.OpenChannel{}.Execute(ctx, s)
		require.NoError(t, err)
		_, err = payproto.SealMessage{Handle: h, Custom: []byte("x")}.Execute(ctx, s)
		require.ErrorIs(t, err, payproto.ErrChannelFailed)
	})
	t.Run("feedback for another user", func(t *testing.T) {
		srv := cs.Channel(t, chanwire.ProfileGMFS)
		h := establish(t, s, srv, chanwire.ProfileGMFS)
		fb, err := srv.Seal(chanwire.AppMessage{DeviceID: []byte("00"), UserID: []byte("someone else"), Custom: []byte("booked")})
		require.NoError(t, err)
		_, err = payproto.OpenChannelRecord{Handle: h, Record: fb}.Execute(ctx, s)
		require.ErrorIs(t, err, payproto.ErrChannelFailed)
	})
	t.Run("unknown profile", func(t *testing.T) {
		_, _, err := payproto.OpenChannel{Profile: 9}.Execute(ctx, s)
		require.ErrorIs(t, err, payproto.ErrBadRequest)
	})
}

// rsaChannelTA starts a TA provisioned with a channel server's trust
// anchors and gives ownerA its RSA channel key: enough to open channels
// of profile OPTEE-RSA.
func rsaChannelTA(t *testing.T) (*device, *TA, context.Context) {
	d := newDevice(t)
	cfg := d.config()
	cfg.Anchors = chantest.NewServer(t).Anchors(t)
	ta := tatest.Start(t, NewTA, cfg)
	ctx := testCtx(t)
	_, err := ta.ChannelKey(ctx, ownerA, payproto.ChannelKeyRSA)
	require.NoError(t, err)
	return d, ta, ctx
}

// TestChannelBoundToIdentity: another client identity cannot use a
// channel it did not open; a PUBLIC session can open none.
func TestChannelBoundToIdentity(t *testing.T) {
	_, ta, ctx := rsaChannelTA(t)
	h, _, err := ta.OpenChannel(ctx, ownerA, chanwire.ProfileOpteeRSA)
	require.NoError(t, err)
	_, err = ta.SealChannel(ownerB, h, nil)
	require.ErrorIs(t, err, payproto.ErrNoChannel)
	require.ErrorIs(t, ta.CloseChannel(ownerB, h), payproto.ErrNoChannel)
	_, _, err = ta.OpenChannel(ctx, [16]byte{}, chanwire.ProfileOpteeRSA)
	require.ErrorIs(t, err, payproto.ErrNeedsIdentity)
	_, err = ta.SealChannel(ownerA, h, nil)
	require.ErrorIs(t, err, payproto.ErrChannelFailed, "still ownerA's (not established)")
}

// TestChannelBounds: MaxChannelsPerIdentity (the oldest goes),
// MaxChannels (ErrChannelsBusy), ChannelIdleMs (forgotten).
func TestChannelBounds(t *testing.T) {
	d, ta, ctx := rsaChannelTA(t)
	var hs []uint32
	for range payproto.MaxChannelsPerIdentity + 1 {
		h, _, err := ta.OpenChannel(ctx, ownerA, chanwire.ProfileOpteeRSA)
		require.NoError(t, err)
		hs = append(hs, h)
		d.Clock.Advance(time.Millisecond)
	}
	require.ErrorIs(t, ta.CloseChannel(ownerA, hs[0]), payproto.ErrNoChannel, "the oldest was closed")
	require.NoError(t, ta.CloseChannel(ownerA, hs[1]))

	for i := 0; ; i++ {
		owner := [16]byte{1, byte(i)}
		_, _, err := ta.OpenChannel(ctx, owner, chanwire.ProfileOpteeRSA)
		if err != nil {
			require.ErrorIs(t, err, payproto.ErrChannelsBusy)
			require.Equal(t, payproto.MaxChannels-(payproto.MaxChannelsPerIdentity-1), i)
			break
		}
	}
	d.Clock.Advance((payproto.ChannelIdleMs + 1) * time.Millisecond)
	_, _, err := ta.OpenChannel(ctx, ownerB, chanwire.ProfileOpteeRSA)
	require.NoError(t, err, "idle channels were dropped")
	require.ErrorIs(t, ta.CloseChannel(ownerA, hs[2]), payproto.ErrNoChannel, "idle: forgotten")
}
