package main

import (
	"context"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/se/card"
	"github.com/fpemu/fpemu/se/cardproto"
	"github.com/fpemu/fpemu/se/transport"
)

// TestSEBinary runs `fpemu se` as a process: flag errors exit 2; the card
// announces its socket; the middleware subcommands personalise it (2 of
// 3 shares in three directories), change the transport PIN, generate a
// key and sign — PINs on stdin only; one share alone is refused; SIGTERM
// ends the card with exit 0 and its socket removed.
func TestSEBinary(t *testing.T) {
	bin := builtFpemu(t)
	exe := func(stdin string, args ...string) (int, string, string) {
		return runFpemu(t, bin, "", stdin, args...)
	}
	root := testkit.ShortDir(t)
	dir := filepath.Join(root, "card")
	for _, bad := range [][]string{
		{"se"},
		{"se", "--dir", dir, "--vpcd", "nohostport"},
		{"se", "--dir", dir, "--vpcd", "127.0.0.1:0"},
		{"se", "--dir", dir, "extra"},
	} {
		code, _, stderr := exe("", bad...)
		assert.Equal(t, 2, code, "%v: %s", bad, stderr)
	}

	sock := filepath.Join(root, "se.sock")
	se := startDaemon(t, bin, "se", "--dir", dir, "--socket", sock)
	require.Equal(t, "se ready socket="+sock, se.ready)

	var shares []string
	for _, d := range []string{"sandbox", "keystore", "backup"} {
		require.NoError(t, os.Mkdir(filepath.Join(root, d), 0o700))
		shares = append(shares, "--share", filepath.Join(root, d, "sm.share"))
	}
	args := func(sub string, extra ...string) []string {
		return append(append([]string{"se", sub, "--socket", sock}, shares...), extra...)
	}
	code, out, errOut := exe(card.DefaultAdmin+"\n", args("personalise")...)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "personalised: 3 shares, any 2 open the card\n", out)
	code, _, errOut = exe(card.TransportPIN+"\n24681357\n", args("pin-change")...)
	require.Equal(t, 0, code, errOut)
	code, out, errOut = exe("", args("pin-status")...)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "tries left 6\n", out)
	code, pubHex, errOut := exe("24681357\n", args("keygen")...)
	require.Equal(t, 0, code, errOut)
	code, sigHex, errOut := exe("24681357\n", args("sign", "--message", "pay 12.00 to shop 7")...)
	require.Equal(t, 0, code, errOut)
	pub, err := card.ParsePoint(mustUnhex(t, strings.TrimSpace(pubHex)))
	require.NoError(t, err)
	sig, err := hex.DecodeString(strings.TrimSpace(sigHex))
	require.NoError(t, err)
	assert.True(t, sm2.VerifyASN1WithSM2(pub, nil, []byte("pay 12.00 to shop 7"), sig))

	code, _, errOut = exe("000000\n", args("sign", "--message", "x")...)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "wrong PIN, 5 tries left")
	assert.NotContains(t, errOut, "000000", "no PIN in errors")
	code, _, errOut = exe("", "se", "pin-status", "--socket", sock, shares[0], shares[1])
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "too few valid shares")
	code, _, errOut = exe("", args("pin-change")...)
	assert.Equal(t, 2, code, "no PINs on stdin: %s", errOut)

	se.stop(t) // SIGTERM: exit 0
	_, err = os.Lstat(sock)
	assert.ErrorIs(t, err, os.ErrNotExist, "socket removed")
	assert.Contains(t, se.Stderr(), `"component":"se"`)
	assert.NotContains(t, se.Stderr(), "24681357")
}

// TestSEReadyMeansListening: a client that connects the moment `fpemu se`
// prints its ready line is served, round after round — the line comes
// only once the socket is bound. With --vpcd and no pcscd on that port
// the line still comes (the vpcd link is made, and remade, in the
// background: docs/protocol.md §15.3) and the socket is served.
func TestSEReadyMeansListening(t *testing.T) {
	bin := builtFpemu(t)
	root := testkit.ShortDir(t)
	dir, sock := filepath.Join(root, "card"), filepath.Join(root, "se.sock")
	// A closed port for --vpcd: bound, then released.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	noPCSCD := ln.Addr().String()
	require.NoError(t, ln.Close())
	const rounds = 20
	for i := range rounds {
		args := []string{"se", "--dir", dir, "--socket", sock}
		if i%4 == 3 {
			args = append(args, "--vpcd", noPCSCD)
		}
		se := startDaemon(t, bin, args...)
		require.Equal(t, "se ready socket="+sock, se.ready, "round %d: %s", i, se.Stderr())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := transport.Dial(ctx, sock)
		cancel()
		require.NoError(t, err, "round %d %v: connect on the ready line", i, args)
		rsp, err := c.Transmit(selectShield)
		require.NoError(t, err, "round %d", i)
		require.GreaterOrEqual(t, len(rsp), 2, "round %d", i)
		assert.Contains(t, []byte{0x90, 0x61}, rsp[len(rsp)-2], "round %d: SELECT answered % X", i, rsp)
		require.NoError(t, c.Close())
		se.stop(t) // SIGTERM: exit 0
	}
}

// selectShield is SELECT by DF name of the shield applet (ISO/IEC 7816-4
// §11.1.1: 00 A4 04 00 Lc AID).
var selectShield = append([]byte{0x00, 0xA4, 0x04, 0x00, byte(len(cardproto.AID))}, cardproto.AID...)
