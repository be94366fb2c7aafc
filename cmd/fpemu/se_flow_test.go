package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/payserver"
	"github.com/fpemu/fpemu/payserver/servertest"
	"github.com/fpemu/fpemu/se/card"
)

// daemon is a long-running fpemu process of a test, ended by pid.
type daemon struct {
	*testkit.Proc
	ready string // its readiness line, without the newline
	once  sync.Once
}

// startDaemon runs bin args and waits for its first stdout line. The
// cleanup sends SIGTERM to its pid and wants exit 0 within 15 s (then
// testkit's cleanup kills it).
func startDaemon(t *testing.T, bin string, args ...string) *daemon {
	t.Helper()
	d := &daemon{Proc: testkit.Start(t, exec.Command(bin, args...))}
	t.Cleanup(func() { d.stop(t) })
	d.ready = d.Line(t, 30*time.Second)
	return d
}

// stop ends the process once (SIGTERM by pid) and wants exit 0 within
// 15 s.
func (d *daemon) stop(t *testing.T) {
	d.once.Do(func() {
		d.Signal(t, syscall.SIGTERM)
		assert.NoError(t, d.Wait(t, 15*time.Second), "exit 0 on SIGTERM; stderr:\n%s", d.Stderr())
	})
}

// TestSEServerFlowAcrossProcesses is seed 002 end to end with every
// party its own process: `fpemu ca` issues the server's dual pair (so
// `fpemu server --cert/--key` has a stable signing certificate) and the
// card's certificate (profile shield) from the card's own PKCS#10;
// `fpemu se` is the card; the middleware subcommands personalise it,
// pin the server certificate, log in with the server and confirm an
// order's pre-submit. A second server with another key (a phishing
// server, same CA) gets no login from the card. All processes end by
// pid with exit 0.
func TestSEServerFlowAcrossProcesses(t *testing.T) {
	bin := builtFpemu(t)
	root := testkit.ShortDir(t)
	exe := func(stdin string, args ...string) (int, string, string) {
		return runFpemu(t, bin, root, stdin, args...)
	}
	must := func(stdin string, args ...string) string {
		t.Helper()
		code, out, errOut := exe(stdin, args...)
		require.Equal(t, 0, code, "%v: %s", args, errOut)
		return out
	}

	// The CA and the server's stable dual pair.
	must("", "ca", "init", "--dir", "ca")
	for _, k := range []string{"sign", "enc"} {
		must("", "ca", "csr", "--key", "server-"+k+".key", "--new-key", "--cn", "pay.fpemu.test", "-o", "server-"+k+".csr")
	}
	must("", "ca", "issue", "--dir", "ca", "--profile", "server", "--usage", "dual", "--csr", "server-sign.csr",
		"--enc-csr", "server-enc.csr", "-o", "server.p7b")
	// device attestation roots: none of this test's business, but required
	k, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	spki, err := smx509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, "roots.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), 0o644))

	// The card and its personalisation at the counter.
	sock := filepath.Join(root, "se.sock")
	se := startDaemon(t, bin, "se", "--dir", filepath.Join(root, "card"), "--socket", sock)
	require.Equal(t, "se ready socket="+sock, se.ready)
	var shares []string
	for _, d := range []string{"sandbox", "keystore"} {
		require.NoError(t, os.Mkdir(filepath.Join(root, d), 0o700))
		shares = append(shares, "--share", filepath.Join(root, d, "sm.share"))
	}
	cardArgs := func(sub string, extra ...string) []string {
		return append(append([]string{"se", sub, "--socket", sock}, shares...), extra...)
	}
	const pin = "24681357"
	must(card.DefaultAdmin+"\n", cardArgs("personalise")...)
	must(card.TransportPIN+"\n"+pin+"\n", cardArgs("pin-change")...)
	assert.Equal(t, "server certificate pinned\n", must(card.DefaultAdmin+"\n", cardArgs("pin-server", "--cert", "server.p7b")...))
	code, _, errOut := exe(card.DefaultAdmin+"\n", cardArgs("pin-server", "--cert", "server.p7b")...)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "6985", "pinned once")

	// Issuance: card keygen → P10 → fpemu ca (profile shield, for the
	// customer's device) → P7 → card.
	var dev [16]byte
	_, _ = rand.Read(dev[:])
	devHex := hex.EncodeToString(dev[:])
	must(pin+"\n", cardArgs("keygen")...)
	must(pin+"\n", cardArgs("csr", "-o", "card.csr")...)
	must("", "ca", "issue", "--dir", "ca", "--profile", "shield", "--device", devHex, "--csr", "card.csr", "-o", "card.p7b")
	assert.Equal(t, "certificate imported\n", must(pin+"\n", cardArgs("import-cert", "--p7", "card.p7b")...))

	srv := servertest.Start(t, bin, "--db", "sqlite:"+filepath.Join(root, "pay.db"),
		"--ca", filepath.Join(root, "ca"), "--cert", filepath.Join(root, "server.p7b"), "--key", filepath.Join(root, "server-sign.key"),
		"--enc-key", filepath.Join(root, "server-enc.key"), "--device-roots", filepath.Join(root, "roots.pem"))
	base := "http://" + srv.HTTP

	// a login naming another device than the certificate's is refused
	code, _, errOut = exe(pin+"\n", cardArgs("login", "--server", base, "--device", strings.Repeat("ab", 16))...)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "403 device")
	assert.Equal(t, "logged in device="+devHex+"\n", must(pin+"\n", cardArgs("login", "--server", base, "--device", devHex)...))

	// The merchant's order; the card confirms its pre-submit.
	o, created, err := payserver.CreateOrder(context.Background(), srv.HTTP, "se-flow-1",
		payserver.OrderRequest{Payee: "tea-house", Amount: 4200, Currency: "CNY", Summary: "oolong"})
	require.NoError(t, err)
	require.True(t, created)

	code, out, errOut := exe(pin+"\n", cardArgs("confirm", "--server", base, "--device", devHex, "--order", o.ID)...)
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `^confirmed presubmit=[0-9a-f]{32} order=`+o.ID+"\n$", out)
	assert.Contains(t, errOut, `confirm: pay 42.00 CNY to "tea-house" (order `+o.ID+`)`)
	// a wrong PIN: the card signs nothing, the server confirms nothing
	code, _, errOut = exe("11111111\n", cardArgs("confirm", "--server", base, "--device", devHex, "--order", o.ID)...)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "wrong PIN, 5 tries left")
	assert.NotContains(t, errOut, "11111111")
	// another device has no card logged in
	code, _, errOut = exe(pin+"\n", cardArgs("confirm", "--server", base, "--device", strings.Repeat("ab", 16), "--order", o.ID)...)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "409 no_card")

	// The phishing server: same CA, its own fresh key (no --cert). The
	// card refuses its login random; nothing is signed for it.
	phish := servertest.Start(t, bin, "--db", "sqlite:"+filepath.Join(root, "phish.db"),
		"--ca", filepath.Join(root, "ca"), "--device-roots", filepath.Join(root, "roots.pem"))
	code, _, errOut = exe(pin+"\n", cardArgs("login", "--server", "http://"+phish.HTTP, "--device", devHex)...)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "refused the server's signature (6300)")
	assert.NotContains(t, phish.Stderr(), `"shield login"`, "the phishing server got no login")
	// the real one still works: the card is not harmed by the attempt
	must(pin+"\n", cardArgs("login", "--server", base, "--device", devHex)...)

	phish.Stop(t) // SIGTERM: exit 0 asserted there
	srv.Stop(t)
	se.stop(t)
	_, err = os.Lstat(sock)
	assert.ErrorIs(t, err, os.ErrNotExist, "card socket removed")
	assert.NotContains(t, se.Stderr()+srv.Stderr(), pin, "no PIN in logs")
}
