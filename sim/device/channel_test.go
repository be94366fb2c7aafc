package device

import (
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/bio/payment/chantest"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// serveChannel is the payment server's loop for one TCP connection: the
// handshake, then one payment record whose statement it verifies against
// scene and answers with a feedback naming the statement's counter. It
// reports the first error on done.
func serveChannel(p *chantest.Server, ln net.Listener, profile chanwire.Profile, scene proof.Cert, done chan<- error) {
	conn, err := ln.Accept()
	if err != nil {
		done <- err
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	srv, err := channel.NewServer(p.Config(profile))
	if err != nil {
		done <- err
		return
	}
	for !srv.Established() {
		msg, err := drive.ReadMessage(conn)
		if err != nil {
			done <- err
			return
		}
		out, _, err := srv.Handle(msg)
		if err != nil {
			done <- err
			return
		}
		if out != nil {
			if _, err := conn.Write(out); err != nil {
				done <- err
				return
			}
		}
	}
	rec, err := drive.ReadMessage(conn)
	if err != nil {
		done <- err
		return
	}
	m, err := srv.OpenRecord(rec)
	if err != nil {
		done <- err
		return
	}
	st, err := proof.VerifyStatement(m.Custom, scene)
	if err != nil {
		done <- err
		return
	}
	fb, err := srv.Seal(chanwire.AppMessage{DeviceID: m.DeviceID, UserID: m.UserID, Custom: []byte("booked " + big.NewInt(int64(st.Counter)).String())})
	if err != nil {
		done <- err
		return
	}
	_, err = conn.Write(fb)
	done <- err
}

// TestChannelAcrossProcesses is issue 10's "done when": the payment TA as
// its own process (provisioned with the trust anchors by the launcher),
// channel.Server in this test behind a real TCP socket on loopback, and
// the REE app (sim/drive) carrying only bytes. Every profile establishes;
// the TA signs and seals a payment statement; the server opens and
// verifies it and answers; the TA verifies the feedback and returns it.
func TestChannelAcrossProcesses(t *testing.T) {
	pki := chantest.NewServer(t)
	d := bootDevice(t, func(c *Config) {
		c.Roles = []tee.Role{tee.RoleKeymaster, tee.RolePayment}
		c.TrustAnchors = pki.Anchors(t)
	})
	h := fingerprintHook(t, d)
	pay := session(t, d, tee.RolePayment, rpc.AsUser())
	scene := registerPayment(t, h, pay)
	ctx := testCtx(t)

	// Registration: the TA's CSRs go to the CA, its certificates come back.
	pki.Provision(ctx, t, pay)

	for _, p := range []chanwire.Profile{chanwire.ProfileGMFS, chanwire.ProfileGM, chanwire.ProfileOpteeRSA} {
		t.Run(p.String(), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			done := make(chan error, 1)
			go serveChannel(pki, ln, p, scene, done)

			conn, err := net.Dial("tcp", ln.Addr().String())
			require.NoError(t, err)
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
			ch, err := drive.Connect(ctx, pay, conn, p)
			require.NoError(t, err)

			op := beginPayment(t, pay)
			require.NoError(t, h.SetAuthResult(bio.ResultSuccess, 2, op, bio.Match{UserID: 9, AuthenticatorID: 0xA1, GroupID: 0}))
			relayAll(t, h, pay)
			require.NoError(t, ch.SendPayment(ctx, paySceneRef, op, []byte("order 42")))
			fb, err := ch.Receive(ctx)
			require.NoError(t, err)
			assert.Regexp(t, `^booked \d+$`, string(fb))
			require.NoError(t, <-done)
			require.NoError(t, ch.Close(ctx))
		})
	}
}
