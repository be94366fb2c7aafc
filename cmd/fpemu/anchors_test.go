package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/smx509"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment/chantest"
	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// writeAnchors writes a payproto.TrustAnchors file and returns its path.
func writeAnchors(t *testing.T, a payproto.TrustAnchors) string {
	t.Helper()
	b, err := a.Marshal()
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "anchors.bin")
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

// TestDeviceUpTrustAnchorsRefused: a --trust-anchors file the payment TA
// would not start with is a usage error (exit 2) that says what is wrong,
// before anything boots.
func TestDeviceUpTrustAnchorsRefused(t *testing.T) {
	ca := chantest.NewCA(t)
	notCA := ca.Issue(t, "fpemu test leaf", ca.Key.Public(), chantest.SignUsage) // no CA flag
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	smallDER, err := x509.MarshalPKIXPublicKey(&small.PublicKey)
	require.NoError(t, err)
	garbage := filepath.Join(t.TempDir(), "garbage.bin")
	require.NoError(t, os.WriteFile(garbage, []byte("not anchors"), 0o600))
	empty := filepath.Join(t.TempDir(), "empty.bin")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	tests := []struct {
		name, file, want string
	}{
		{"missing file", filepath.Join(t.TempDir(), "none.bin"), "no such file"},
		{"empty file", empty, "empty"},
		{"not the wire form", garbage, "version"},
		{"a root that is not a CA", writeAnchors(t, payproto.TrustAnchors{ServerName: chantest.ServerName, Roots: [][]byte{notCA}}), "root 0 is not a CA certificate"},
		{"an RSA key under 2048 bits", writeAnchors(t, payproto.TrustAnchors{RSAServer: smallDER}), "RSA-2048"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(shortTempDir(t), "dev")
			var out, errb bytes.Buffer
			code := run([]string{"device", "up", "--dir", dir, "--trust-anchors", tc.file}, strings.NewReader(""), &out, &errb)
			assert.Equal(t, exitUsage, code, errb.String())
			assert.Contains(t, errb.String(), "--trust-anchors")
			assert.Contains(t, errb.String(), tc.want)
			assert.NoDirExists(t, dir, "nothing booted")
		})
	}
}

// TestDeviceUpTrustAnchors: `fpemu device up --trust-anchors FILE` hands
// the file to the running device's payment TA: it installs a channel
// certificate of the file's CA and refuses one of another CA, and its
// gm-fs handshake completes with a server certified by the file's CA under
// the file's server name.
func TestDeviceUpTrustAnchors(t *testing.T) {
	bin := builtFpemu(t)
	keys, other := chantest.NewServer(t), chantest.NewCA(t)
	file := writeAnchors(t, payproto.TrustAnchors{ServerName: chantest.ServerName, Roots: [][]byte{keys.CA.Cert.Raw}})
	dir := shortTempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	up := startDeviceUp(t, ctx, bin, dir, "--no-hal", "--trust-anchors", file)
	defer up.interrupt(t, ctx)

	c, err := rpc.Dial(ctx, filepath.Join(dir, "sock", string(tee.RolePayment)+".sock"))
	require.NoError(t, err)
	defer c.Close()
	u, err := tee.UUIDOf(tee.RolePayment)
	require.NoError(t, err)
	pay, err := c.OpenSession(ctx, u, nil, rpc.AsUser())
	require.NoError(t, err)

	for kind, usage := range map[payproto.ChannelKeyKind]smx509.KeyUsage{payproto.ChannelKeySign: chantest.SignUsage, payproto.ChannelKeyEnc: chantest.EncUsage} {
		csr, err := payproto.ChannelKey{Kind: kind}.Execute(ctx, pay)
		require.NoError(t, err)
		require.ErrorIs(t, payproto.InstallChannelCert{Kind: kind, DER: other.FromCSR(t, csr, usage)}.Execute(ctx, pay), payproto.ErrBadCertificate,
			"a certificate of a CA the file does not name")
		require.NoError(t, payproto.InstallChannelCert{Kind: kind, DER: keys.CA.FromCSR(t, csr, usage)}.Execute(ctx, pay))
	}

	srv := keys.Channel(t)
	h, m1, err := payproto.OpenChannel{Profile: chanwire.ProfileGMFS}.Execute(ctx, pay)
	require.NoError(t, err)
	m2, _, err := srv.Handle(m1)
	require.NoError(t, err)
	m3, est, err := payproto.ContinueChannel{Handle: h, Msg: m2}.Execute(ctx, pay)
	require.NoError(t, err)
	require.True(t, est)
	_, est, err = srv.Handle(m3)
	require.NoError(t, err)
	assert.True(t, est)
}
