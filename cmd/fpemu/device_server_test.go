package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/hal/halclient"
	"github.com/fpemu/fpemu/hal/hidl"
	"github.com/fpemu/fpemu/payserver"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/payserver/servertest"
	"github.com/fpemu/fpemu/payserver/wire"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// TestDeviceUpServer is the standing device wired to a standing server, all
// as processes of the built binary: `fpemu device root` gives the device's
// attestation key to the server's --device-roots, `fpemu server` runs with
// the CA, `fpemu device up --server --ca` provisions and checks the wiring;
// then this test is the payment app — sockets only — and pays one merchant
// order: PIN and a finger enrolled through the HAL, the scene key
// registered with the server over gm-fs, the signed summary, a touch,
// CHANNEL_SEAL_PAYMENT, booked, one ledger row. Both processes stop by pid
// with exit 0.
func TestDeviceUpServer(t *testing.T) {
	bin := builtFpemu(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root := shortTempDir(t)
	caDir, devDir := filepath.Join(root, "ca"), filepath.Join(root, "dev")
	c, err := ca.Init(caDir, ca.InitOptions{})
	require.NoError(t, err)
	require.NoError(t, c.Close())

	// The device maker's step: the device's attestation key to the server.
	code, roots, stderr := runCmd(t, exec.CommandContext(ctx, bin, "device", "root", "--dir", devDir))
	require.Equal(t, 0, code, stderr)
	require.True(t, strings.HasPrefix(roots, "-----BEGIN PUBLIC KEY-----"), roots)
	_, again, _ := runCmd(t, exec.CommandContext(ctx, bin, "device", "root", "--dir", devDir))
	require.Equal(t, roots, again, "the attestation key is the device's for good")
	rootsFile := filepath.Join(root, "device-roots.pem")
	require.NoError(t, os.WriteFile(rootsFile, []byte(roots), 0o644))

	srv := servertest.Start(t, bin, "--db", "sqlite:"+filepath.Join(root, "ledger.db"), "--ca", caDir, "--device-roots", rootsFile)
	chanAddr, httpAddr := srv.Channel, srv.HTTP

	// A wrong server address fails the start, nothing left running.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close())
	code, _, stderr = runCmd(t, exec.CommandContext(ctx, bin, "device", "up", "--dir", devDir, "--server", dead, "--ca", caDir))
	assert.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, "--server")
	code, _, stderr = runCmd(t, exec.CommandContext(ctx, bin, "device", "up", "--dir", devDir, "--server", chanAddr))
	assert.Equal(t, exitUsage, code, "--server without --ca: %s", stderr)

	up := startDeviceUp(t, ctx, bin, devDir, "--server", chanAddr, "--ca", caDir)
	require.NotNil(t, up.info.Server, "the JSON names the server")
	assert.Equal(t, chanAddr, up.info.Server.Addr)
	assert.Equal(t, "gm-fs", up.info.Server.Profile)
	assert.Len(t, up.info.Server.ChannelCerts, 2)

	// The payment app: its sessions, the HAL, the sensor (the test bench).
	socks := map[string]string{}
	for _, p := range up.info.TAs {
		socks[p.Role] = p.Socket
	}
	session := func(role tee.Role, opts ...rpc.SessionOption) *rpc.Session {
		cl, err := rpc.Dial(ctx, socks[string(role)])
		require.NoError(t, err)
		t.Cleanup(func() { _ = cl.Close() })
		u, _ := tee.UUIDOf(role)
		s, err := cl.OpenSession(ctx, u, nil, opts...)
		require.NoError(t, err)
		return s
	}
	gk, pay := session(tee.RoleGatekeeper), session(tee.RolePayment, rpc.AsUser())
	hc, err := halclient.Dial(ctx, up.info.HAL.Socket)
	require.NoError(t, err)
	t.Cleanup(func() { _ = hc.Close() })
	cbs, err := hc.SetNotify(ctx)
	require.NoError(t, err)
	t.Cleanup(cbs.Close)
	fp := drive.HAL{Client: hc, Callbacks: cbs}
	sen, err := device.DialSensor(ctx, up.info.SensorSocket)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sen.Close() })
	require.NoError(t, sen.SetLatency(ctx, 0))
	grp := filepath.Join(devDir, "data", "vendor_de", "0", "fpdata")
	require.NoError(t, os.MkdirAll(grp, 0o700))
	st, err := hc.SetActiveGroup(ctx, 0, grp)
	require.NoError(t, err)
	require.Equal(t, hidl.SysOK, st)

	pin, err := drive.EnrollPIN(ctx, gk, 0, []byte("1234"))
	require.NoError(t, err)
	ch0, err := hc.PreEnroll(ctx)
	require.NoError(t, err)
	hat, err := pin.HAT(ctx, ch0)
	require.NoError(t, err)
	f := finger.New(0xF1A6E5)
	enr, err := drive.Enroll(ctx, fp, sen, f, hat.Marshal(), 0, nil)
	require.NoError(t, err)
	_, err = hc.PostEnroll(ctx)
	require.NoError(t, err)
	ref := payproto.KeyRef{AppID: "com.example.wallet", Scene: "pay"}
	reg, err := drive.RegisterScene(ctx, pay, ref, 0, nil)
	require.NoError(t, err)

	// The merchant's order, then the app over the channel.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+httpAddr+"/v1/orders",
		strings.NewReader(`{"payee":"coffee-7","amount":1250,"currency":"CNY","summary":"2 flat whites"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "standing-1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var o payserver.OrderJSON
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&o))
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)

	conn, err := net.Dial("tcp", up.info.Server.Addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	ch, err := drive.Connect(ctx, pay, conn, chanwire.ProfileGMFS)
	require.NoError(t, err)
	require.NoError(t, ch.RegisterWithServer(ctx, reg, []uint32{enr.FingerID}))
	_, sum, err := ch.ServerChallenge(ctx, o.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(1250), sum.Amount)
	assert.Equal(t, up.info.Server.DeviceID, fmt.Sprintf("%x", sum.Device[:]))
	app := drive.App{Session: pay, Ref: ref, Scene: reg.SceneCert}
	op, err := app.Begin(ctx)
	require.NoError(t, err)
	_, err = drive.Authenticate(ctx, fp, sen, f, op, 0, drive.AuthOptions{Touches: 4})
	require.NoError(t, err)
	fb, err := ch.PayOrder(ctx, ref, op, sum, []byte("standing-pay-1"))
	require.NoError(t, err)
	require.Equal(t, wire.RuleOK, fb.Rule, "%+v", fb)
	require.NoError(t, ch.Close(ctx))

	resp, err = http.Get("http://" + httpAddr + "/v1/ledger")
	require.NoError(t, err)
	var ledger payserver.LedgerJSON
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ledger))
	resp.Body.Close()
	require.Len(t, ledger.Entries, 1)
	assert.Equal(t, o.ID, ledger.Entries[0].OrderID)
	assert.Equal(t, enr.FingerID, ledger.Entries[0].FingerID)

	// Both stop by pid, cleanly.
	up.interrupt(t, ctx)
	srv.Stop(t) // SIGTERM: exit 0
	// Every line the server wrote (channel, store, merchant API, the
	// payment) names one component.
	comps := map[string]bool{}
	for _, l := range parseLogLines(t, srv.Stderr()) {
		comps[l.Component] = true
	}
	for _, c := range []string{"server", "payserver", "store", "merchant"} {
		assert.True(t, comps[c], "a %s line: %v", c, comps)
	}
}
