package channel

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/channel/chanwire"
)

func flip(b []byte, i int) []byte {
	out := append([]byte{}, b...)
	out[i] ^= 1
	return out
}

func mustMarshal(t *testing.T, f func() ([]byte, error)) []byte {
	b, err := f()
	require.NoError(t, err)
	return b
}

// requireDead: after a failure every call is ErrDead, bare: nothing of
// the failure's error (package doc).
func requireDead(t *testing.T, e interface {
	Seal(chanwire.AppMessage) ([]byte, error)
	OpenRecord([]byte) (chanwire.AppMessage, error)
	Established() bool
}) {
	t.Helper()
	_, err := e.Seal(testApp)
	require.Equal(t, ErrDead, err)
	_, err = e.OpenRecord(nil)
	require.Equal(t, ErrDead, err)
	require.False(t, e.Established())
}

// TestDeadKeepsNoDetail: the first error of a failed Client or Server
// goes to its caller with its detail (here chanwire's parse error, found
// by errors.As); every later call, of any method, gets ErrDead alone —
// neither the first error's sentinel nor its text.
func TestDeadKeepsNoDetail(t *testing.T) {
	w := getWorld(t)
	p := chanwire.ProfileGMFS
	garbage := []byte{0xde, 0xad, 0xbe, 0xef}
	later := func(t *testing.T, first, err error) {
		t.Helper()
		require.Equal(t, ErrDead, err)
		require.NotErrorIs(t, err, ErrMalformed)
		var fe *chanwire.FormatError
		require.False(t, errors.As(err, &fe))
		require.NotContains(t, err.Error(), first.Error())
	}
	tests := []struct {
		name string
		run  func(t *testing.T) error // fails, then checks the later calls
	}{
		{"client handshake", func(t *testing.T) error {
			c, err := NewClient(w.clientConfig(p))
			require.NoError(t, err)
			_, err = c.Open()
			require.NoError(t, err)
			_, _, first := c.Continue(garbage)
			_, _, err = c.Continue(garbage)
			later(t, first, err)
			_, err = c.Open()
			later(t, first, err)
			requireDead(t, c)
			return first
		}},
		{"server handshake", func(t *testing.T) error {
			s, err := NewServer(w.serverConfig(p))
			require.NoError(t, err)
			_, _, first := s.Handle(garbage)
			_, _, err = s.Handle(garbage)
			later(t, first, err)
			requireDead(t, s)
			return first
		}},
		{"established server, bad record", func(t *testing.T) error {
			_, s, _ := handshake(t, w.clientConfig(p), w.serverConfig(p))
			_, first := s.OpenRecord(garbage)
			_, err := s.OpenRecord(garbage)
			later(t, first, err)
			requireDead(t, s)
			return first
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first := tc.run(t)
			require.ErrorIs(t, first, ErrMalformed, "the caller that caused it gets the detail")
			var fe *chanwire.FormatError
			require.True(t, errors.As(first, &fe), "%v", first)
		})
	}
}

// TestClientRejectsServerHello: one row per rule the device checks on the
// ServerHello (docs/protocol.md §11.5), each with its typed error, and
// the client dead afterwards.
func TestClientRejectsServerHello(t *testing.T) {
	w := getWorld(t)
	other := newPKI(t, "other CA")
	otherServer := other.creds(t, "pay.fpemu.test")
	type row struct {
		name string
		p    chanwire.Profile
		edit func(t *testing.T, ch, sh []byte) []byte
		want error
	}
	resign := func(t *testing.T, ch []byte, m *chanwire.ServerHello) []byte {
		signed := mustMarshal(t, m.SignedPart)
		sig, err := w.server.Signer.Sign(rand.Reader, cat([]byte(labelGMFSServerSig), sm3Of(ch, signed)), sm2.DefaultSM2SignerOpts)
		require.NoError(t, err)
		m.Signature = sig
		return mustMarshal(t, m.Marshal)
	}
	parse := func(t *testing.T, sh []byte) chanwire.ServerHello {
		m, err := chanwire.ParseServerHello(sh)
		require.NoError(t, err)
		return m
	}
	rows := []row{
		{"truncated", chanwire.ProfileGMFS, func(t *testing.T, ch, sh []byte) []byte { return sh[:len(sh)-1] }, ErrMalformed},
		{"unknown type", chanwire.ProfileGMFS, func(t *testing.T, ch, sh []byte) []byte { b := flip(sh, 2); b[2] = 0x09; return b }, ErrMalformed},
		{"reflected ClientHello", chanwire.ProfileGMFS, func(t *testing.T, ch, sh []byte) []byte { return ch }, ErrUnexpectedMessage},
		{"profile swapped", chanwire.ProfileGMFS, func(t *testing.T, ch, sh []byte) []byte {
			b := append([]byte{}, sh...)
			b[1] = byte(chanwire.ProfileGM)
			return b
		}, ErrProfile},
		{"signature", chanwire.ProfileGMFS, func(t *testing.T, ch, sh []byte) []byte {
			m := parse(t, sh)
			m.Signature = flip(m.Signature, len(m.Signature)-1)
			return mustMarshal(t, m.Marshal)
		}, ErrSignature},
		{"signature gm", chanwire.ProfileGM, func(t *testing.T, ch, sh []byte) []byte {
			m := parse(t, sh)
			m.Signature = flip(m.Signature, len(m.Signature)-1)
			return mustMarshal(t, m.Marshal)
		}, ErrSignature},
		{"ephemeral swapped (MITM)", chanwire.ProfileGMFS, func(t *testing.T, ch, sh []byte) []byte {
			m := parse(t, sh)
			k, _ := sm2.GenerateKey(rand.Reader)
			e, _ := k.ECDH()
			m.Ephemeral = e.PublicKey().Bytes()
			return mustMarshal(t, m.Marshal)
		}, ErrSignature},
		{"ephemeral not a point", chanwire.ProfileGMFS, func(t *testing.T, ch, sh []byte) []byte {
			m := parse(t, sh)
			m.Ephemeral = flip(m.Ephemeral, 64)
			return mustMarshal(t, m.Marshal)
		}, ErrKeyExchange},
		{"S_B wrong, signed", chanwire.ProfileGMFS, func(t *testing.T, ch, sh []byte) []byte {
			m := parse(t, sh)
			m.Confirm = flip(m.Confirm, 0)
			return resign(t, ch, &m)
		}, ErrConfirm},
		{"finished", chanwire.ProfileGMFS, func(t *testing.T, ch, sh []byte) []byte {
			m := parse(t, sh)
			m.Finished = flip(m.Finished, 5)
			return mustMarshal(t, m.Marshal)
		}, ErrFinished},
		{"certificates from another CA", chanwire.ProfileGMFS, func(t *testing.T, ch, sh []byte) []byte {
			m := parse(t, sh)
			m.SignCert, m.EncCert = otherServer.SignCert.Raw, otherServer.EncCert.Raw
			return mustMarshal(t, m.Marshal)
		}, ErrCertificate},
		{"certificates swapped", chanwire.ProfileGMFS, func(t *testing.T, ch, sh []byte) []byte {
			m := parse(t, sh)
			m.SignCert, m.EncCert = m.EncCert, m.SignCert
			return mustMarshal(t, m.Marshal)
		}, ErrCertificate},
		{"device's certificates", chanwire.ProfileGMFS, func(t *testing.T, ch, sh []byte) []byte {
			m := parse(t, sh)
			m.SignCert, m.EncCert = w.device.SignCert.Raw, w.device.EncCert.Raw
			return mustMarshal(t, m.Marshal)
		}, ErrIdentity},
		{"garbage certificate", chanwire.ProfileGMFS, func(t *testing.T, ch, sh []byte) []byte {
			m := parse(t, sh)
			m.SignCert = []byte{0x30, 0}
			return mustMarshal(t, m.Marshal)
		}, ErrCertificate},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			c, err := NewClient(w.clientConfig(r.p))
			require.NoError(t, err)
			s, err := NewServer(w.serverConfig(r.p))
			require.NoError(t, err)
			ch, err := c.Open()
			require.NoError(t, err)
			sh, _, err := s.Handle(ch)
			require.NoError(t, err)
			out, est, err := c.Continue(r.edit(t, ch, sh))
			require.ErrorIs(t, err, r.want)
			require.Nil(t, out)
			require.False(t, est)
			requireDead(t, c)
			_, _, err = c.Continue(sh)
			require.ErrorIs(t, err, ErrDead)
		})
	}
}

// TestServerRejects: one row per rule the server checks, on the
// ClientHello or the ClientFinished.
func TestServerRejects(t *testing.T) {
	w := getWorld(t)
	other := newPKI(t, "other CA")
	otherDev := other.creds(t, "device-0001")
	type row struct {
		name   string
		p      chanwire.Profile
		accept []chanwire.Profile
		ch     func(t *testing.T, ch []byte) []byte                    // edit of the ClientHello
		cf     func(t *testing.T, ch, sh, cf []byte, c *Client) []byte // edit of the ClientFinished
		want   error
	}
	editCH := func(f func(m *chanwire.ClientHello)) func(t *testing.T, ch []byte) []byte {
		return func(t *testing.T, ch []byte) []byte {
			m, err := chanwire.ParseClientHello(ch)
			require.NoError(t, err)
			f(&m)
			return mustMarshal(t, m.Marshal)
		}
	}
	editCF := func(f func(t *testing.T, m *chanwire.ClientFinished, ch, sh []byte)) func(t *testing.T, ch, sh, cf []byte, c *Client) []byte {
		return func(t *testing.T, ch, sh, cf []byte, c *Client) []byte {
			m, err := chanwire.ParseClientFinished(cf)
			require.NoError(t, err)
			f(t, &m, ch, sh)
			return mustMarshal(t, m.Marshal)
		}
	}
	gmfs := chanwire.ProfileGMFS
	rows := []row{
		{name: "truncated hello", p: gmfs, ch: func(t *testing.T, ch []byte) []byte { return ch[:10] }, want: ErrMalformed},
		{name: "finished first", p: gmfs, ch: func(t *testing.T, ch []byte) []byte {
			return mustMarshal(t, (&chanwire.ClientFinished{Profile: gmfs, Confirm: make([]byte, 32), Signature: make([]byte, 70), Finished: make([]byte, 32)}).Marshal)
		}, want: ErrUnexpectedMessage},
		{name: "profile not accepted", p: chanwire.ProfileGM, accept: []chanwire.Profile{gmfs}, want: ErrProfile},
		{name: "downgrade to gm", p: chanwire.ProfileGM, accept: []chanwire.Profile{gmfs, chanwire.ProfileGM},
			ch: editCH(func(m *chanwire.ClientHello) { m.Offered = []chanwire.Profile{chanwire.ProfileGM, gmfs} }), want: ErrDowngrade},
		{name: "device certs from another CA", p: gmfs, ch: editCH(func(m *chanwire.ClientHello) {
			m.SignCert, m.EncCert = otherDev.SignCert.Raw, otherDev.EncCert.Raw
		}), want: ErrCertificate},
		{name: "device certs of two subjects", p: gmfs, ch: editCH(func(m *chanwire.ClientHello) { m.EncCert = w.server.EncCert.Raw }), want: ErrCertificate},
		{name: "R_A not a point", p: gmfs, ch: editCH(func(m *chanwire.ClientHello) { m.Ephemeral = flip(m.Ephemeral, 64) }), want: ErrKeyExchange},
		{name: "hello repeated", p: gmfs, cf: func(t *testing.T, ch, sh, cf []byte, c *Client) []byte { return ch }, want: ErrUnexpectedMessage},
		{name: "finished truncated", p: gmfs, cf: func(t *testing.T, ch, sh, cf []byte, c *Client) []byte { return cf[:len(cf)-1] }, want: ErrMalformed},
		{name: "finished signature", p: gmfs, cf: editCF(func(t *testing.T, m *chanwire.ClientFinished, ch, sh []byte) {
			m.Signature = flip(m.Signature, len(m.Signature)-1)
		}), want: ErrSignature},
		{name: "gm signature", p: chanwire.ProfileGM, cf: editCF(func(t *testing.T, m *chanwire.ClientFinished, ch, sh []byte) {
			m.Signature = flip(m.Signature, len(m.Signature)-1)
		}), want: ErrSignature},
		{name: "S_A wrong, signed", p: gmfs, cf: editCF(func(t *testing.T, m *chanwire.ClientFinished, ch, sh []byte) {
			m.Confirm = flip(m.Confirm, 3)
			signed := mustMarshal(t, m.SignedPart)
			sig, err := w.device.Signer.Sign(rand.Reader, cat([]byte(labelGMFSClientSig), sm3Of(ch, sh, signed)), sm2.DefaultSM2SignerOpts)
			require.NoError(t, err)
			m.Signature = sig
		}), want: ErrConfirm},
		{name: "finished MAC", p: gmfs, cf: editCF(func(t *testing.T, m *chanwire.ClientFinished, ch, sh []byte) {
			m.Finished = flip(m.Finished, 0)
		}), want: ErrFinished},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			ccfg := w.clientConfig(r.p)
			if r.p == chanwire.ProfileGM && r.accept != nil && len(r.accept) > 1 {
				ccfg.Offered = []chanwire.Profile{chanwire.ProfileGM, gmfs}
			}
			c, err := NewClient(ccfg)
			require.NoError(t, err)
			accept := r.accept
			if accept == nil {
				accept = []chanwire.Profile{r.p}
			}
			s, err := NewServer(w.serverConfig(accept...))
			require.NoError(t, err)
			ch, err := c.Open()
			require.NoError(t, err)
			if r.cf == nil {
				if r.ch != nil {
					ch = r.ch(t, ch)
				}
				out, _, err := s.Handle(ch)
				require.ErrorIs(t, err, r.want)
				require.Nil(t, out)
				requireDead(t, s)
				return
			}
			sh, _, err := s.Handle(ch)
			require.NoError(t, err)
			cf, _, err := c.Continue(sh)
			require.NoError(t, err)
			out, est, err := s.Handle(r.cf(t, ch, sh, cf, c))
			require.ErrorIs(t, err, r.want)
			require.False(t, est)
			require.Nil(t, out)
			requireDead(t, s)
			_, _, err = s.Handle(cf)
			require.ErrorIs(t, err, ErrDead)
		})
	}
}

// TestOfferedListInTranscript: a man in the middle who strips gm-fs's
// offered list (to make a later fallback look legitimate) changes the
// transcript the server signs, so the device refuses the ServerHello.
func TestOfferedListInTranscript(t *testing.T) {
	w := getWorld(t)
	ccfg := w.clientConfig(chanwire.ProfileGMFS)
	ccfg.Offered = []chanwire.Profile{chanwire.ProfileGMFS, chanwire.ProfileGM}
	c, err := NewClient(ccfg)
	require.NoError(t, err)
	s, err := NewServer(w.serverConfig(chanwire.ProfileGMFS))
	require.NoError(t, err)
	ch, err := c.Open()
	require.NoError(t, err)
	m, err := chanwire.ParseClientHello(ch)
	require.NoError(t, err)
	m.Offered = []chanwire.Profile{chanwire.ProfileGMFS}
	sh, _, err := s.Handle(mustMarshal(t, m.Marshal))
	require.NoError(t, err)
	_, _, err = c.Continue(sh)
	require.ErrorIs(t, err, ErrSignature)
}

// TestOrder: messages out of order, repeated, or after the end.
func TestOrder(t *testing.T) {
	w := getWorld(t)
	cfg := w.clientConfig(chanwire.ProfileGMFS)

	c, _ := NewClient(cfg)
	_, _, err := c.Continue([]byte{1, 3, 2, 0, 0, 0, 0})
	require.ErrorIs(t, err, ErrUnexpectedMessage, "Continue before Open")

	c, _ = NewClient(cfg)
	_, err = c.Open()
	require.NoError(t, err)
	_, err = c.Open()
	require.ErrorIs(t, err, ErrUnexpectedMessage, "Open twice")

	c, _ = NewClient(cfg)
	_, err = c.Open()
	require.NoError(t, err)
	_, err = c.Seal(testApp)
	require.ErrorIs(t, err, ErrNotEstablished, "application data before Finished")

	s, _ := NewServer(w.serverConfig(chanwire.ProfileGMFS))
	_, err = s.OpenRecord([]byte{1, 3, 0x17})
	require.ErrorIs(t, err, ErrNotEstablished)

	c, s, msgs := handshake(t, cfg, w.serverConfig(chanwire.ProfileGMFS))
	_, _, err = c.Continue(msgs[1])
	require.ErrorIs(t, err, ErrUnexpectedMessage, "ServerHello after established")
	_, _, err = s.Handle(msgs[2])
	require.ErrorIs(t, err, ErrUnexpectedMessage, "ClientFinished repeated")

	// a handshake message where a record is expected
	_, s, msgs = handshake(t, cfg, w.serverConfig(chanwire.ProfileGMFS))
	_, err = s.OpenRecord(msgs[0])
	require.ErrorIs(t, err, ErrUnexpectedMessage)
}

// TestCrossSession: a ServerHello from another session (same device,
// same server) fails the transcript signature; a ClientFinished from
// another session fails on the server.
func TestCrossSession(t *testing.T) {
	w := getWorld(t)
	for _, p := range sm2Profiles {
		t.Run(p.String(), func(t *testing.T) {
			c1, _ := NewClient(w.clientConfig(p))
			s1, _ := NewServer(w.serverConfig(p))
			c2, _ := NewClient(w.clientConfig(p))
			s2, _ := NewServer(w.serverConfig(p))
			ch1, _ := c1.Open()
			ch2, _ := c2.Open()
			sh1, _, err := s1.Handle(ch1)
			require.NoError(t, err)
			sh2, _, err := s2.Handle(ch2)
			require.NoError(t, err)
			_, _, err = c1.Continue(sh2)
			require.ErrorIs(t, err, ErrSignature)
			cf2, _, err := c2.Continue(sh2)
			require.NoError(t, err)
			_, _, err = s1.Handle(cf2)
			require.ErrorIs(t, err, ErrSignature)
			_ = sh1
		})
	}
}

// TestRecordRules: replay, reorder, reflection, tampering, another
// session's record, a wrong app signature, the profile of the record.
func TestRecordRules(t *testing.T) {
	w := getWorld(t)
	for _, p := range sm2Profiles {
		t.Run(p.String(), func(t *testing.T) {
			fresh := func() (*Client, *Server) {
				c, s, _ := handshake(t, w.clientConfig(p), w.serverConfig(p))
				return c, s
			}
			c, s := fresh()
			r0, err := c.Seal(testApp)
			require.NoError(t, err)
			r1, err := c.Seal(testApp)
			require.NoError(t, err)

			t.Run("replay", func(t *testing.T) {
				c, s := fresh()
				r, _ := c.Seal(testApp)
				_, err := s.OpenRecord(r)
				require.NoError(t, err)
				_, err = s.OpenRecord(r)
				require.ErrorIs(t, err, ErrSequence)
				requireDead(t, s)
			})
			t.Run("reorder", func(t *testing.T) {
				_, err := s.OpenRecord(r1)
				require.ErrorIs(t, err, ErrSequence)
				_, err = s.OpenRecord(r0)
				require.ErrorIs(t, err, ErrDead)
			})
			t.Run("reflection", func(t *testing.T) {
				c, _ := fresh()
				r, _ := c.Seal(testApp)
				_, err := c.OpenRecord(r)
				require.ErrorIs(t, err, ErrRecordAuth)
			})
			t.Run("tampered", func(t *testing.T) {
				_, s := fresh()
				_, err := s.OpenRecord(flip(r0, len(r0)-1))
				require.ErrorIs(t, err, ErrRecordAuth)
			})
			t.Run("seq rewritten", func(t *testing.T) {
				c, s := fresh()
				c.Seal(testApp)
				r, _ := c.Seal(testApp)
				b := append([]byte{}, r...)
				b[chanwire.HeaderSize+7] = 0
				_, err := s.OpenRecord(b)
				require.ErrorIs(t, err, ErrRecordAuth)
			})
			t.Run("another session", func(t *testing.T) {
				_, s := fresh()
				_, err := s.OpenRecord(r0)
				require.ErrorIs(t, err, ErrRecordAuth)
			})
			t.Run("truncated", func(t *testing.T) {
				_, s := fresh()
				_, err := s.OpenRecord(r0[:chanwire.HeaderSize+3])
				require.ErrorIs(t, err, ErrMalformed)
			})
			t.Run("profile", func(t *testing.T) {
				_, s := fresh()
				b := append([]byte{}, r0...)
				b[1] = byte(chanwire.ProfileOpteeRSA)
				_, err := s.OpenRecord(b)
				require.Error(t, err)
			})
			t.Run("app signature", func(t *testing.T) {
				c, s := fresh()
				m := testApp
				m.Signature = make([]byte, 70)
				pt := mustMarshal(t, m.Marshal)
				rec, err := c.sess.send.seal(0, pt)
				require.NoError(t, err)
				_, err = s.OpenRecord(rec)
				require.ErrorIs(t, err, ErrAppSignature)
			})
			t.Run("app message lifted into another session", func(t *testing.T) {
				// the server re-encrypts a signed device message inside a
				// second session with the same device: gm-fs binds the
				// signature to the session, gm (seed 001) does not.
				c1, s1 := fresh()
				r, _ := c1.Seal(testApp)
				got, err := s1.OpenRecord(r)
				require.NoError(t, err)
				c2, s2 := fresh()
				_ = c2
				pt := mustMarshal(t, got.Marshal)
				rec, err := c2.sess.send.seal(0, pt)
				require.NoError(t, err)
				_, err = s2.OpenRecord(rec)
				if p == chanwire.ProfileGMFS {
					require.ErrorIs(t, err, ErrAppSignature)
				} else {
					require.NoError(t, err, "gm: the seed's signature over the plaintext alone can be replayed")
				}
			})
		})
	}
}

// TestConfig: unusable configurations are ErrConfig.
func TestConfig(t *testing.T) {
	w := getWorld(t)
	cfg := w.clientConfig(chanwire.ProfileGMFS)
	cfg.Credentials = nil
	_, err := NewClient(cfg)
	require.ErrorIs(t, err, ErrConfig)
	cfg = w.clientConfig(chanwire.ProfileGMFS)
	cfg.Offered = []chanwire.Profile{chanwire.ProfileGM}
	_, err = NewClient(cfg)
	require.ErrorIs(t, err, ErrConfig)
	cfg = w.clientConfig(9)
	_, err = NewClient(cfg)
	require.ErrorIs(t, err, ErrConfig)
	bad := *w.device
	bad.Exchange = w.server.Exchange
	cfg = w.clientConfig(chanwire.ProfileGMFS)
	cfg.Credentials = &bad
	_, err = NewClient(cfg)
	require.ErrorIs(t, err, ErrConfig)
	scfg := w.serverConfig(chanwire.ProfileGMFS)
	scfg.Roots = nil
	_, err = NewServer(scfg)
	require.ErrorIs(t, err, ErrConfig)
}
