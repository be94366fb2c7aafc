package payment

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/tee/rpc"
)

// TestBorrowedParamsNotRetained: the payment TA borrows its memrefs from
// the host's pooled buffers (rpc.ParamBorrower; GPD_SPE_010 §4.9), so a
// certificate, server handshake message, key reference or payload it kept
// past its command would be overwritten by the next command's bytes (and
// by the poison under -race). Channel certificates installed over the
// host, and three channels whose handshakes, records, payments and
// feedbacks are interleaved, all keep working with the bytes each command
// was sent.
func TestBorrowedParamsNotRetained(t *testing.T) {
	var _ rpc.ParamBorrower = (*TA)(nil)
	require.True(t, (*TA)(nil).BorrowsParams())
	d, s, cs := channelDevice(t) // CHANNEL_INSTALL_CERT over the host
	sc := registered(t, d, s)
	ctx := testCtx(t)

	type end struct {
		p   chanwire.Profile
		srv *channel.Server
		h   uint32
		msg []byte
	}
	ends := []*end{{p: chanwire.ProfileGMFS}, {p: chanwire.ProfileGM}, {p: chanwire.ProfileOpteeRSA}}
	var err error
	for _, e := range ends {
		e.srv = cs.Channel(t, e.p)
		e.h, e.msg, err = payproto.OpenChannel{Profile: e.p}.Execute(ctx, s)
		require.NoError(t, err)
	}
	for _, e := range ends {
		e.msg, _, err = e.srv.Handle(e.msg)
		require.NoError(t, err)
	}
	// Every CHANNEL_CONTINUE before any client Finished reaches its server.
	for _, e := range ends {
		var est bool
		e.msg, est, err = payproto.ContinueChannel{Handle: e.h, Msg: e.msg}.Execute(ctx, s)
		require.NoError(t, err)
		require.True(t, est)
	}
	for _, e := range ends {
		_, est, err := e.srv.Handle(e.msg)
		require.NoError(t, err, "%s", e.p)
		require.True(t, est)
	}

	for round := range 3 {
		for i, e := range ends {
			custom := []byte(fmt.Sprintf(`{"round":%d,"channel":%d,"pad":"%*s"}`, round, i, 40*i+round, ""))
			rec, err := payproto.SealMessage{Handle: e.h, Custom: custom}.Execute(ctx, s)
			require.NoError(t, err)
			m, err := e.srv.OpenRecord(rec)
			require.NoError(t, err, "%s round %d", e.p, round)
			assert.Equal(t, custom, m.Custom)
		}
		for i, e := range ends {
			c := authorized(t, d, s)
			payload := []byte(fmt.Sprintf("order %d/%d %*s", round, i, 64*i, ""))
			rec, err := payproto.SealPayment{Handle: e.h, Ref: sceneRef, Challenge: c, Payload: payload}.Execute(ctx, s)
			require.NoError(t, err)
			m, err := e.srv.OpenRecord(rec)
			require.NoError(t, err)
			_, err = proof.VerifyPayment(m.Custom, sc, c, payload)
			require.NoError(t, err, "%s round %d: the statement signs the payload sent", e.p, round)

			fb := []byte(fmt.Sprintf("booked %d/%d", round, i))
			srec, err := e.srv.Seal(chanwire.AppMessage{DeviceID: m.DeviceID, UserID: m.UserID, Custom: fb})
			require.NoError(t, err)
			got, err := payproto.OpenChannelRecord{Handle: e.h, Record: srec}.Execute(ctx, s)
			require.NoError(t, err)
			assert.Equal(t, fb, got)
		}
	}
}
