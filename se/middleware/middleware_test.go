package middleware

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/se/apdu"
	"github.com/fpemu/fpemu/se/card"
	"github.com/fpemu/fpemu/se/cardproto"
	"github.com/fpemu/fpemu/se/keyshare"
	"github.com/fpemu/fpemu/se/sm"
	"github.com/fpemu/fpemu/se/transport"
)

// direct is one card session without a transport; it records every
// command so that tests can replay one.
type direct struct {
	mu   sync.Mutex
	s    *card.Session
	sent [][]byte
}

func (d *direct) Transmit(cmd []byte) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sent = append(d.sent, append([]byte{}, cmd...))
	return d.s.Transmit(context.Background(), cmd), nil
}

func (d *direct) last() []byte { d.mu.Lock(); defer d.mu.Unlock(); return d.sent[len(d.sent)-1] }

func openCard(t *testing.T) *card.Card {
	t.Helper()
	c, err := card.Open(filepath.Join(testkit.ShortDir(t), "card"), card.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// sharePaths are three share files in three separate directories: the
// app's sandbox, the user's key store, an offline backup.
func sharePaths(t *testing.T) []string {
	t.Helper()
	root := t.TempDir()
	var out []string
	for _, d := range []string{"sandbox", "keystore", "backup"} {
		require.NoError(t, os.Mkdir(filepath.Join(root, d), 0o700))
		out = append(out, filepath.Join(root, d, "sm.share"))
	}
	return out
}

const userPIN = "20250601"

// personalised returns a card with an SM key split 2-of-3 and the user
// PIN changed from the transport PIN.
func personalised(t *testing.T) (*card.Card, []string) {
	t.Helper()
	c := openCard(t)
	paths := sharePaths(t)
	require.NoError(t, Personalise(&direct{s: c.NewSession()}, card.DefaultAdmin, paths, 2, nil))
	m, err := Open(&direct{s: c.NewSession()}, paths, nil)
	require.NoError(t, err)
	require.NoError(t, m.ChangePIN(card.TransportPIN, userPIN))
	m.Close()
	return c, paths
}

// TestSeed002Flow: personalisation, then under secure messaging: login,
// key generation, PKCS#10 → CA → PKCS#7 → card, a transaction signature
// that verifies with the certificate's key, login random signed.
func TestSeed002Flow(t *testing.T) {
	c, paths := personalised(t)
	authority, err := ca.Init(filepath.Join(t.TempDir(), "ca"), ca.InitOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = authority.Close() })

	m, err := Open(&direct{s: c.NewSession()}, paths, nil)
	require.NoError(t, err)
	defer m.Close()
	tries, verified, err := m.PINStatus()
	require.NoError(t, err)
	assert.Equal(t, card.MaxUserTries, tries)
	assert.False(t, verified)
	_, err = m.SignTransaction([]byte("pay 1"))
	var ce *CardError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, apdu.SWSecurityNotSatisfied, ce.SW, "signing needs Login")

	require.NoError(t, m.Login(userPIN))
	pub, err := m.GenerateKey()
	require.NoError(t, err)
	csr, err := m.CertRequest()
	require.NoError(t, err)
	iss, err := authority.Issue(context.Background(), ca.Request{CSR: csr, Profile: ca.ProfileShield})
	require.NoError(t, err)
	p7, err := iss.PKCS7()
	require.NoError(t, err)
	require.NoError(t, m.ImportCertificate(p7))
	der, err := m.Certificate()
	require.NoError(t, err)
	cert, err := smx509.ParseCertificate(der)
	require.NoError(t, err)

	tx := []byte(`{"to":"6222 0000 1111","amount":"500.00","nonce":"9f2c"}`)
	sig, err := m.SignTransaction(tx)
	require.NoError(t, err)
	key, ok := cert.PublicKey.(*ecdsa.PublicKey)
	require.True(t, ok)
	p, err := card.ParsePoint(pub)
	require.NoError(t, err)
	assert.True(t, key.X.Cmp(p.X) == 0 && key.Y.Cmp(p.Y) == 0, "the certificate holds the generated key")
	assert.True(t, sm2.VerifyASN1WithSM2(p, nil, tx, sig), "signature verifies with Z")

	chal := make([]byte, 32)
	_, _ = rand.Read(chal)
	asig, err := m.Authenticate(chal)
	require.NoError(t, err)
	assert.True(t, sm2.VerifyASN1WithSM2(p, nil, append([]byte(card.InternalAuthLabel), chal...), asig))
}

// TestShares: any 2 of the 3 share files open the card; one alone, a
// tampered one, or shares of another card are errors before any key is
// used.
func TestShares(t *testing.T) {
	c, paths := personalised(t)
	for _, drop := range paths {
		sub := []string{}
		for _, p := range paths {
			if p != drop {
				sub = append(sub, p)
			}
		}
		m, err := Open(&direct{s: c.NewSession()}, sub, nil)
		require.NoError(t, err, "without %s", drop)
		require.NoError(t, m.Login(userPIN))
		m.Close()
	}
	_, err := Open(&direct{s: c.NewSession()}, paths[:1], nil)
	require.ErrorIs(t, err, keyshare.ErrTooFew, "the sandbox alone is not enough")
	_, err = Open(&direct{s: c.NewSession()}, []string{filepath.Join(t.TempDir(), "none")}, nil)
	require.ErrorIs(t, err, ErrNoShares)

	raw, err := os.ReadFile(paths[1])
	require.NoError(t, err)
	raw[20] ^= 1 // inside the share value
	require.NoError(t, os.Remove(paths[1]))
	require.NoError(t, os.WriteFile(paths[1], raw, 0o600))
	_, err = Open(&direct{s: c.NewSession()}, paths[:2], nil)
	require.Error(t, err)
	assert.True(t, errorsIsAny(err, keyshare.ErrBadShare, keyshare.ErrInconsistent, keyshare.ErrEncoding), "%v", err)

	_, otherPaths := personalised(t)
	_, err = Open(&direct{s: c.NewSession()}, otherPaths, nil)
	require.ErrorIs(t, err, keyshare.ErrWrongCard)
}

func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// TestPlainRefusedOnceSMKeyed: after personalisation the PIN and key
// commands in plain answer 6982; the query form of VERIFY still works.
func TestPlainRefusedOnceSMKeyed(t *testing.T) {
	c, _ := personalised(t)
	d := &direct{s: c.NewSession()}
	require.NoError(t, selectApplet(d))
	for _, cmd := range []apdu.Command{
		{INS: cardproto.InsVerify, P2: card.RefUser, Data: []byte(userPIN)},
		{INS: cardproto.InsChangeRefData, P2: card.RefUser, Data: append(PINField(userPIN), PINField("99999999")...)},
		{INS: cardproto.InsResetRetry, P2: card.RefUser, Data: append(PINField(card.DefaultAdmin), PINField("99999999")...)},
		{INS: cardproto.InsPSO, P1: 0x9E, P2: 0x9A, Data: []byte("x"), Ne: 256},
		{INS: cardproto.InsInternalAuth, Data: make([]byte, 16), Ne: 256},
		{INS: cardproto.InsGenerateKeyPair, Ne: 256},
	} {
		r, err := plain(d, cmd)
		require.NoError(t, err)
		assert.Equal(t, apdu.SWSecurityNotSatisfied, r.SW, "INS %02X", cmd.INS)
	}
	r, err := plain(d, apdu.Command{INS: cardproto.InsVerify, P2: card.RefUser})
	require.NoError(t, err)
	assert.Equal(t, apdu.VerifyFailed(card.MaxUserTries), r.SW, "query spends nothing")
}

// TestReplayKillsSession: a protected APDU sent again is refused with
// 6988, the card's session and PIN status end, and the middleware's
// session is dead; a new session needs Login again.
func TestReplayKillsSession(t *testing.T) {
	c, paths := personalised(t)
	d := &direct{s: c.NewSession()}
	m, err := Open(d, paths, nil)
	require.NoError(t, err)
	require.NoError(t, m.Login(userPIN))
	verifyAPDU := d.last()
	_, err = m.GenerateKey()
	require.NoError(t, err)
	_, err = m.SignTransaction([]byte("first"))
	require.NoError(t, err)

	out, err := d.Transmit(verifyAPDU) // an attacker on the transport replays VERIFY
	require.NoError(t, err)
	r, err := apdu.ParseResponse(out)
	require.NoError(t, err)
	assert.Equal(t, apdu.SW(0x6988), r.SW)
	_, err = m.SignTransaction([]byte("second"))
	require.ErrorIs(t, err, sm.ErrInvalid, "the card answered 6988: the host's session dies too")
	_, err = m.SignTransaction([]byte("third"))
	require.ErrorIs(t, err, ErrClosed)

	// The same card session, new SM session: not logged in any more.
	m2, err := Open(d, paths, nil)
	require.NoError(t, err)
	_, verified, err := m2.PINStatus()
	require.NoError(t, err)
	assert.False(t, verified)
}

// TestWrongPINsUnderSM: wrong PINs count down (PINError), the sixth
// blocks, the right PIN is then ErrBlocked; the admin PIN unblocks.
func TestWrongPINsUnderSM(t *testing.T) {
	c, paths := personalised(t)
	m, err := Open(&direct{s: c.NewSession()}, paths, nil)
	require.NoError(t, err)
	for want := card.MaxUserTries - 1; want >= 0; want-- {
		err := m.Login("000000")
		var pe *PINError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, want, pe.TriesLeft)
	}
	require.ErrorIs(t, m.Login(userPIN), ErrBlocked)
	require.NoError(t, m.Unblock(card.DefaultAdmin, "13572468"))
	require.NoError(t, m.Login("13572468"))
}

// TestOverSocket: the middleware over the Unix socket transport.
func TestOverSocket(t *testing.T) {
	c, paths := personalised(t)
	sock := filepath.Join(testkit.ShortDir(t), "se.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- transport.ServeSocket(ctx, c.NewSession, sock, zap.NewNop()) }()
	t.Cleanup(func() { cancel(); <-done })
	var cl *transport.Client
	require.Eventually(t, func() bool {
		var err error
		cl, err = transport.Dial(ctx, sock)
		return err == nil
	}, 5*time.Second, 20*time.Millisecond)
	defer cl.Close()
	m, err := Open(cl, paths, nil)
	require.NoError(t, err)
	require.NoError(t, m.Login(userPIN))
	_, err = m.GenerateKey()
	require.NoError(t, err)
	_, err = m.SignTransaction([]byte("over the socket"))
	require.NoError(t, err)
}
