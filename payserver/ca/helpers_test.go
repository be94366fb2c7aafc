package ca

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/stretchr/testify/require"
)

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func testClock() time.Time { return testNow }

// newTestCA initialises a CA in a fresh owner-only directory.
func newTestCA(t testing.TB) *CA {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca")
	c, err := Init(dir, InitOptions{Options: Options{Now: testClock}})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func newKey(t testing.TB) *sm2.PrivateKey {
	t.Helper()
	k, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return k
}

// csrFor returns a fresh key and its DER request.
func csrFor(t testing.TB, tmpl CSRTemplate) (*sm2.PrivateKey, []byte) {
	t.Helper()
	k := newKey(t)
	der, err := NewCSR(rand.Reader, k, tmpl)
	require.NoError(t, err)
	return k, der
}

// dualFor issues a dual pair for cn under profile p and returns the keys
// and the result.
func dualFor(t testing.TB, c *CA, p Profile, cn string) (sign, enc *sm2.PrivateKey, is *Issued) {
	t.Helper()
	sk, sreq := csrFor(t, CSRTemplate{CommonName: cn})
	ek, ereq := csrFor(t, CSRTemplate{CommonName: cn})
	is, err := c.Issue(context.Background(), Request{CSR: sreq, EncCSR: ereq, Profile: p, Usage: UsageDual})
	require.NoError(t, err)
	require.Len(t, is.Certs, 2)
	return sk, ek, is
}

func writeTestFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}
