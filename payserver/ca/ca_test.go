package ca

import (
	"context"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/emmansun/gmsm/smx509"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee/devdir"
)

// TestInitOpen: the files Init makes and their modes; Open's refusals of
// a directory or key file others can reach, a missing CA, a key that is
// not the root's; Init's refusal of an existing CA.
func TestInitOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	c, err := Init(dir, InitOptions{Options: Options{Now: testClock}, CommonName: "Test Root", Organization: "fpemu"})
	require.NoError(t, err)
	require.NoError(t, c.Close())
	for name, mode := range map[string]os.FileMode{".": 0o700, KeyFile: 0o600, RegisterFile: 0o600, RootFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, mode, fi.Mode().Perm(), name)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, KeyFile))
	require.NoError(t, err)

	_, err = Init(dir, InitOptions{})
	require.ErrorIs(t, err, ErrExists)

	c, err = Open(dir, Options{})
	require.NoError(t, err)
	assert.Equal(t, "CN=Test Root,O=fpemu", c.Root().Subject.String())
	require.NoError(t, c.Close())

	_, err = Open(t.TempDir(), Options{})
	require.ErrorIs(t, err, ErrNoCA)

	require.NoError(t, os.Chmod(filepath.Join(dir, KeyFile), 0o640))
	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, devdir.ErrUnsafeDir)
	assert.NotContains(t, err.Error(), string(keyPEM[30:60]), "key bytes in an error")
	require.NoError(t, os.Chmod(filepath.Join(dir, KeyFile), 0o600))

	require.NoError(t, os.Chmod(dir, 0o770))
	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, devdir.ErrUnsafeDir)
	require.NoError(t, os.Chmod(dir, 0o700))

	// another CA's key in this directory
	other := filepath.Join(t.TempDir(), "other")
	oc, err := Init(other, InitOptions{})
	require.NoError(t, err)
	require.NoError(t, oc.Close())
	otherKey, err := os.ReadFile(filepath.Join(other, KeyFile))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, KeyFile), otherKey, 0o600))
	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, ErrCorrupt)

	require.NoError(t, os.WriteFile(filepath.Join(dir, KeyFile), []byte("garbage"), 0o600))
	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, ErrCorrupt)

	// a link planted for the register
	d2 := filepath.Join(t.TempDir(), "ca2")
	c2, err := Init(d2, InitOptions{})
	require.NoError(t, err)
	require.NoError(t, c2.Close())
	require.NoError(t, os.Symlink("/tmp/elsewhere", filepath.Join(d2, RegisterFile+"-wal")))
	_, err = Open(d2, Options{})
	require.ErrorIs(t, err, devdir.ErrUnsafeDir)
}

// TestInitLeavesNothing: a refused Init creates no file.
func TestInitLeavesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	_, err := Init(dir, InitOptions{CommonName: "bad\x00name"})
	require.ErrorIs(t, err, ErrSubject)
	_, err = Init(dir, InitOptions{Validity: 1})
	require.ErrorIs(t, err, ErrValidity)
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries)
}

// TestRevokeCRL: revoking one half revokes the pair; a second revocation,
// an unknown serial and an unused reason are refused; CRL numbers rise;
// the CRL verifies with the root and lists exactly the revoked serials.
func TestRevokeCRL(t *testing.T) {
	ctx := context.Background()
	c := newTestCA(t)
	_, _, dev := dualFor(t, c, ProfileDevice, "device-0001")
	_, _, keep := dualFor(t, c, ProfileDevice, "device-0002")

	revoked, err := c.Revoke(ctx, dev.Certs[1].SerialNumber, ReasonKeyCompromise)
	require.NoError(t, err)
	require.Len(t, revoked, 2)
	assert.Equal(t, 0, revoked[1].Cmp(dev.Certs[0].SerialNumber))

	_, err = c.Revoke(ctx, dev.Certs[0].SerialNumber, ReasonKeyCompromise)
	require.ErrorIs(t, err, ErrRevoked)
	_, err = c.Revoke(ctx, big.NewInt(12345), ReasonKeyCompromise)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = c.Revoke(ctx, keep.Certs[0].SerialNumber, 6) // certificateHold
	require.ErrorIs(t, err, ErrReason)
	_, err = ParseReason("certificateHold")
	require.ErrorIs(t, err, ErrReason)

	rec, err := c.Get(ctx, dev.Certs[0].SerialNumber)
	require.NoError(t, err)
	assert.Equal(t, StatusRevoked, rec.Status)
	assert.Equal(t, "keyCompromise", rec.Reason)
	rec, err = c.Get(ctx, keep.Certs[0].SerialNumber)
	require.NoError(t, err)
	assert.Equal(t, StatusValid, rec.Status)

	for want := int64(1); want <= 2; want++ {
		der, err := c.CRL(ctx, 0)
		require.NoError(t, err)
		rl, err := smx509.ParseRevocationList(der)
		require.NoError(t, err)
		require.NoError(t, rl.CheckSignatureFrom(c.Root()))
		assert.Equal(t, want, rl.Number.Int64())
		assert.Equal(t, testNow, rl.ThisUpdate)
		assert.Equal(t, testNow.Add(DefaultCRLValidity), rl.NextUpdate)
		require.Len(t, rl.RevokedCertificateEntries, 2)
		got := map[string]int{}
		for _, e := range rl.RevokedCertificateEntries {
			got[FormatSerial(e.SerialNumber)] = e.ReasonCode
		}
		assert.Equal(t, map[string]int{FormatSerial(dev.Certs[0].SerialNumber): ReasonKeyCompromise,
			FormatSerial(dev.Certs[1].SerialNumber): ReasonKeyCompromise}, got)
	}
	_, err = c.CRL(ctx, MaxCRLValidity+1)
	require.ErrorIs(t, err, ErrValidity)
}

// TestSerials: serials are ≥ 64 bits, distinct, and read back as printed.
func TestSerials(t *testing.T) {
	seen := map[string]bool{}
	c := newTestCA(t)
	for i := 0; i < 20; i++ {
		_, req := csrFor(t, CSRTemplate{CommonName: "device-" + string(rune('a'+i))})
		is, err := c.Issue(context.Background(), Request{CSR: req, Profile: ProfileDevice})
		require.NoError(t, err)
		s := is.Certs[0].SerialNumber
		assert.Greater(t, s.BitLen(), 64)
		assert.False(t, seen[FormatSerial(s)])
		seen[FormatSerial(s)] = true
		back, err := ParseSerial(FormatSerial(s))
		require.NoError(t, err)
		assert.Equal(t, 0, back.Cmp(s))
	}
	for _, bad := range []string{"", "0", "00", "xyz", "0x", "1:2:g", string(make([]byte, 50))} {
		_, err := ParseSerial(bad)
		require.ErrorIs(t, err, ErrSerial, "%q", bad)
	}
	n, err := ParseSerial("0x0A:bC")
	require.NoError(t, err)
	assert.Equal(t, int64(0x0abc), n.Int64())
}

// TestKeyFiles: WriteKeyFile never replaces a file and writes 0600;
// ReadKeyFile refuses a file others can read and a non-SM2 key.
func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "dev.key")
	k := newKey(t)
	require.NoError(t, WriteKeyFile(p, k))
	require.Error(t, WriteKeyFile(p, k))
	back, err := ReadKeyFile(p)
	require.NoError(t, err)
	assert.True(t, k.Equal(back))
	require.NoError(t, os.Chmod(p, 0o644))
	_, err = ReadKeyFile(p)
	require.ErrorIs(t, err, devdir.ErrUnsafeDir)
	_, err = ParseKey([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	require.ErrorIs(t, err, ErrKeyFile)
}
