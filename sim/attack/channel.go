package attack

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"

	"github.com/emmansun/gmsm/ecdh"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/channel/chanwire"
)

// The trusted channel's rows (docs/protocol.md §8.11, §11): the REE sits
// between the payment TA, which terminates the channel, and the payment
// server (channel.Server on loopback TCP in this process), and edits,
// swaps, replays, reorders, reflects, truncates and forges what it
// carries. Each row's control is an honest channel of the same bench that
// carries a message and accepts the server's feedback.
//
// Canaries: where the defence is a rule of the payment TA itself, a
// weakened TA (tas.ChanOfferOnlyProposed, tas.ChanIgnoreAddressee) or a
// TA double in the CA session (the replay row) shows the row catches its
// absence. Where the defence lives only in the channel library
// (certificate chain and server name, transcript signatures, direction
// keys, record authentication, the handshake state machine) there is no
// honest TA-side switch to turn it off, and the library takes no knob
// that weakens it: those rows say so in their doc and have no canary;
// the library's own rule tests (channel/rules_test.go) make each check
// fail on its own.

const (
	gmfs = chanwire.ProfileGMFS
	gm   = chanwire.ProfileGM
	orsa = chanwire.ProfileOpteeRSA
)

// otherDeviceID is the channel device id of the attacker's own phone: the
// payment CA certifies its keys as it certifies every device's.
const otherDeviceID = "0123456789abcdef0123456789abcdef"

// refusedByTA is what the TA answers a failed channel check with.
var refusedByTA = payproto.ErrChannelFailed

// attackerPoint is a fresh SM2 curve point only the attacker knows the
// scalar of: its ephemeral key for a man in the middle.
func attackerPoint() ([]byte, error) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return k.PublicKey().Bytes(), nil
}

// editHello decodes a ClientHello, applies edit and encodes it again.
func editHello(m []byte, edit func(*chanwire.ClientHello)) ([]byte, error) {
	ch, err := chanwire.ParseClientHello(m)
	if err != nil {
		return nil, err
	}
	edit(&ch)
	return ch.Marshal()
}

// editServerHello is editHello for a ServerHello.
func editServerHello(m []byte, edit func(*chanwire.ServerHello)) ([]byte, error) {
	sh, err := chanwire.ParseServerHello(m)
	if err != nil {
		return nil, err
	}
	edit(&sh)
	return sh.Marshal()
}

// clientHello is a rewrite for chanBench.start that applies edit to the
// ClientHello.
func clientHello(edit func(*chanwire.ClientHello)) func([]byte) ([]byte, error) {
	return func(m []byte) ([]byte, error) { return editHello(m, edit) }
}

// truncate keeps the first n body bytes of a channel message and fixes its
// header's length, so the reader takes it whole and its decoder must
// refuse it.
func truncate(m []byte, n int) []byte {
	out := append([]byte(nil), m[:chanwire.HeaderSize+n]...)
	binary.BigEndian.PutUint32(out[3:7], uint32(n))
	return out
}

// halve is truncate to half the message's body.
func halve(m []byte) []byte { return truncate(m, (len(m)-chanwire.HeaderSize)/2) }

var chanMITMCert = attack{
	Info: Info{
		ID:      "chan-mitm-cert",
		Attack:  "man in the middle swaps certificates: the attacker CA's for the server's name, the payment CA's of another device, the attacker's in the device's ClientHello",
		Defence: "trust anchors only from provisioning; server pair chains to them and names the pinned server (§8.11, §11.5) → PAY_ERROR_CHANNEL_FAILED; the server refuses device certificates off its roots → ErrCertificate",
		Want:    Rejected,
	},
	// No canary: the chain and name checks are the library's
	// (channel.verifyPair, ServerName); the TA only supplies anchors the
	// REE cannot change, and no honest TA-side switch removes the checks.
	run: given((*runner).chanBench, func(ctx context.Context, r *runner, b *chanBench, t *tally) {
		if !b.control(ctx, t, gmfs) {
			return
		}
		evil, err := newChanPKI("attacker CA")
		if !t.must("attacker CA", err) {
			return
		}
		evilServer, err := evil.credentials(chanServerName)
		if !t.must("attacker's server certificates", err) {
			return
		}
		otherDevice, err := b.ca.credentials(otherDeviceID)
		if !t.must("another device's certificates", err) {
			return
		}
		// The attacker terminates the device's handshake itself.
		for _, sw := range []struct {
			what  string
			creds *channel.SM2Credentials
		}{
			{"ServerHello with the attacker CA's pair for " + chanServerName, evilServer},
			{"ServerHello with the pair the payment CA issued to another device", otherDevice},
		} {
			c, m1, err := b.open(ctx, gmfs)
			if !t.must("CHANNEL_OPEN", err) {
				return
			}
			fake, err := channel.NewServer(channel.ServerConfig{Profiles: []chanwire.Profile{gmfs}, Credentials: sw.creds, Roots: b.ca.roots})
			if !t.must("attacker's server", err) {
				return
			}
			sh, _, err := fake.Handle(m1)
			if !t.must("attacker's ServerHello", err) {
				return
			}
			_, err = c.cont(ctx, sh)
			t.refused(sw.what+" → TA", err, refusedByTA)
		}
		// The attacker relays, swapping the server's certificates.
		relay, ok := b.hello(ctx, t, b.srv, gmfs)
		if !ok {
			return
		}
		sh, err := editServerHello(relay.sh, func(m *chanwire.ServerHello) {
			m.SignCert, m.EncCert = evilServer.SignCert.Raw, evilServer.EncCert.Raw
		})
		if !t.must("edit ServerHello", err) {
			return
		}
		_, err = relay.c.cont(ctx, sh)
		name := t.refused("genuine ServerHello with its certificates swapped for the attacker CA's → TA", err, refusedByTA)
		_ = relay.l.conn.Close()
		// Toward the server: the device's certificates swapped for a pair
		// of the attacker's CA that names the device.
		evilDevice, err := evil.credentials(b.devID)
		if !t.must("attacker's device certificates", err) {
			return
		}
		swapped, ok := b.start(ctx, t, b.srv, gmfs, clientHello(func(m *chanwire.ClientHello) {
			m.SignCert, m.EncCert = evilDevice.SignCert.Raw, evilDevice.EncCert.Raw
		}))
		if !ok {
			return
		}
		t.refused("ClientHello with the device's pair swapped for the attacker CA's → server", swapped.err, channel.ErrCertificate)
		t.summarize("swapped server certificates → %s; swapped device certificates → server ErrCertificate; honest channel carried a message", name)
	}),
}

var chanMITMEphemeral = attack{
	Info: Info{
		ID:      "chan-mitm-ephemeral",
		Attack:  "man in the middle swaps the ephemeral keys: R_A in the device's ClientHello, R_B in the server's ServerHello (gm-fs)",
		Defence: "both ephemerals are in the SM3 transcript under the server's SM2 signature, S_B and Finished (§11.3, §11.4) → PAY_ERROR_CHANNEL_FAILED",
		Want:    Rejected,
	},
	// No canary: the transcript signature is the library's.
	run: given((*runner).chanBench, func(ctx context.Context, r *runner, b *chanBench, t *tally) {
		if !b.control(ctx, t, gmfs) {
			return
		}
		var name string
		for _, side := range []struct {
			what string
			ra   bool // R_A (else R_B)
		}{{"R_A in the ClientHello", true}, {"R_B in the ServerHello", false}} {
			p, err := attackerPoint()
			if !t.must("attacker's ephemeral key", err) {
				return
			}
			var rewrite func([]byte) ([]byte, error)
			if side.ra {
				rewrite = clientHello(func(m *chanwire.ClientHello) { m.Ephemeral = p })
			}
			h, ok := b.start(ctx, t, b.srv, gmfs, rewrite)
			if !ok || !t.must("server's ServerHello", h.err) {
				return
			}
			sh := h.sh
			if !side.ra {
				if sh, err = editServerHello(sh, func(m *chanwire.ServerHello) { m.Ephemeral = p }); !t.must("edit ServerHello", err) {
					return
				}
			}
			_, err = h.c.cont(ctx, sh)
			name = t.refused("attacker's "+side.what+" → TA", err, refusedByTA)
			_ = h.l.conn.Close()
		}
		t.summarize("swapped R_A and R_B → %s; honest channel carried a message", name)
	}),
}

var chanReplay = attack{
	Info: Info{
		ID:      "chan-replay",
		Attack:  "replay a record: the server's feedback to the TA again, the TA's record to the server again",
		Defence: "record sequence numbers under the AEAD (§11.7) → PAY_ERROR_CHANNEL_FAILED; the server → ErrSequence",
		Want:    Rejected,
	},
	// Canary: a TA double that answers a feedback it has opened before
	// with the same feedback (what a TA without sequence numbers returns).
	run: given((*runner).chanBench, func(ctx context.Context, r *runner, b *chanBench, t *tally) {
		c, l, err := b.connect(ctx, b.srv, gmfs)
		if !t.must("control: honest handshake", err) {
			return
		}
		fb, err := c.roundTrip(ctx, l, "pay 1")
		if !t.must("control: the server answers a record", err) {
			return
		}
		if _, err := c.openRecord(ctx, fb); !t.must("control: the TA opens the feedback", err) {
			return
		}
		_, err = c.openRecord(ctx, fb)
		name := t.refused("feedback replayed to the TA", err, refusedByTA)
		_ = l.conn.Close()

		c, l, err = b.connect(ctx, b.srv, gmfs)
		if !t.must("honest handshake", err) {
			return
		}
		rec, err := c.seal(ctx, "pay 1")
		if !t.must("CHANNEL_SEAL", err) {
			return
		}
		if _, err := l.exchange(rec); !t.must("control: the server accepts the record", err) {
			return
		}
		_, err = l.exchange(rec)
		t.refused("the TA's record replayed to the server", err, channel.ErrSequence)
		t.summarize("replayed feedback → %s; replayed record → server ErrSequence; first deliveries accepted", name)
	}),
}

var chanReorder = attack{
	Info: Info{
		ID:      "chan-reorder",
		Attack:  "reorder records: the server's second feedback before its first to the TA, the TA's second record before its first to the server",
		Defence: "record sequence numbers: each side takes only the next one (§11.7) → PAY_ERROR_CHANNEL_FAILED; the server → ErrSequence",
		Want:    Rejected,
	},
	// No canary: the sequence rule is the library's.
	run: given((*runner).chanBench, func(ctx context.Context, r *runner, b *chanBench, t *tally) {
		fbs := func(c *taChannel, l *link) ([2][]byte, bool) {
			var out [2][]byte
			for i, m := range []string{"pay 1", "pay 2"} {
				fb, err := c.roundTrip(ctx, l, m)
				if !t.must("the server answers record "+m, err) {
					return out, false
				}
				out[i] = fb
			}
			return out, true
		}
		c, l, err := b.connect(ctx, b.srv, gmfs)
		if !t.must("control: honest handshake", err) {
			return
		}
		fb, ok := fbs(c, l)
		if !ok {
			return
		}
		for i := range fb {
			if _, err := c.openRecord(ctx, fb[i]); !t.must("control: the TA opens feedback in order", err) {
				return
			}
		}
		_ = l.conn.Close()

		c, l, err = b.connect(ctx, b.srv, gmfs)
		if !t.must("honest handshake", err) {
			return
		}
		if fb, ok = fbs(c, l); !ok {
			return
		}
		_, err = c.openRecord(ctx, fb[1])
		name := t.refused("second feedback before the first → TA", err, refusedByTA)
		_ = l.conn.Close()

		c, l, err = b.connect(ctx, b.srv, gmfs)
		if !t.must("honest handshake", err) {
			return
		}
		var recs [2][]byte
		for i := range recs {
			if recs[i], err = c.seal(ctx, "pay"); !t.must("CHANNEL_SEAL", err) {
				return
			}
		}
		_, err = l.exchange(recs[1])
		t.refused("second record before the first → server", err, channel.ErrSequence)
		t.summarize("reordered feedback → %s; reordered records → server ErrSequence; in order accepted", name)
	}),
}

var chanReflect = attack{
	Info: Info{
		ID:      "chan-reflect",
		Attack:  "reflect the TA's own record back to it as the server's feedback (gm-fs, gm, optee-rsa)",
		Defence: "per-direction record keys (gm, gm-fs) and the server's RSA signature (optee-rsa) (§11.4, §11.7) → PAY_ERROR_CHANNEL_FAILED",
		Want:    Rejected,
	},
	// No canary: direction keys and record signatures are the library's.
	run: given((*runner).chanBench, func(ctx context.Context, r *runner, b *chanBench, t *tally) {
		if !b.control(ctx, t, gmfs) {
			return
		}
		var name string
		for _, p := range []chanwire.Profile{gmfs, gm, orsa} {
			c, l, err := b.connect(ctx, b.server(p), p)
			if !t.must("honest "+p.String()+" handshake", err) {
				return
			}
			rec, err := c.seal(ctx, "pay")
			if !t.must("CHANNEL_SEAL", err) {
				return
			}
			_, err = c.openRecord(ctx, rec)
			name = t.refused("the TA's own "+p.String()+" record as feedback", err, refusedByTA)
			_ = l.conn.Close()
		}
		t.summarize("reflected records (gm-fs, gm, optee-rsa) → %s; honest channel carried a message", name)
	}),
}

var chanDowngrade = attack{
	Info: Info{
		ID:      "chan-downgrade",
		Attack:  "downgrade gm-fs → gm (the REE asks the TA for gm; a MITM rewrites the ClientHello, with and without its offered list) and → optee-rsa (a MITM answers with an RSAResponse)",
		Defence: "the TA offers every profile it is provisioned for and the server refuses a proposal below the best common one (§8.11, §11.8) → ErrDowngrade; the TA refuses a reply of another profile → PAY_ERROR_CHANNEL_FAILED",
		Want:    Rejected,
	},
	// Canary: tas.ChanOfferOnlyProposed, a TA that offers only the profile
	// the REE asked for. Not covered: a server that accepts optee-rsa
	// cannot tell an REE-chosen optee-rsa from a device that has nothing
	// better (the seed's hello carries no offered list), nor a gm hello
	// whose unsigned offered list a MITM trimmed; only the server's device
	// registry can refuse those (payserver).
	run: given((*runner).chanBench, func(ctx context.Context, r *runner, b *chanBench, t *tally) {
		sm2Only, err := startChanServer(b.serverConfig(gmfs, gm))
		if !t.must("gm-fs/gm server", err) {
			return
		}
		defer sm2Only.close()
		c, l, err := b.connect(ctx, sm2Only, gmfs)
		if !t.must("control: honest gm-fs handshake", err) {
			return
		}
		if fb, err := c.roundTrip(ctx, l, "control"); !t.must("control: the server answers a record", err) {
			return
		} else if _, err := c.openRecord(ctx, fb); !t.must("control: the TA opens the feedback", err) {
			return
		}
		_ = l.conn.Close()

		// The REE asks the TA for gm.
		asked, ok := b.start(ctx, t, sm2Only, gm, nil)
		if !ok {
			return
		}
		t.refused("the TA asked for gm → server", asked.err, channel.ErrDowngrade)
		_ = asked.l.conn.Close()

		// A MITM rewrites the device's gm-fs ClientHello as gm.
		var taName string
		for _, strip := range []bool{false, true} {
			h, ok := b.start(ctx, t, sm2Only, gmfs, clientHello(func(m *chanwire.ClientHello) {
				m.Profile, m.Ephemeral = gm, []byte{}
				if strip {
					m.Offered = []chanwire.Profile{gm}
				}
			}))
			if !ok {
				return
			}
			if !strip {
				t.refused("gm-fs ClientHello rewritten as gm → server", h.err, channel.ErrDowngrade)
				continue
			}
			if !t.must("the server answers the rewritten gm hello with its offered list trimmed", h.err) {
				return
			}
			_, err = h.c.cont(ctx, h.sh)
			taName = t.refused("gm ServerHello to the gm-fs handshake → TA", err, refusedByTA)
			_ = h.l.conn.Close()
		}

		// A MITM answers with a genuine RSAResponse the server made for the
		// attacker's own optee-rsa hello.
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if !t.must("attacker's RSA key", err) {
			return
		}
		own, err := channel.NewClient(channel.ClientConfig{Profile: orsa, RSA: &channel.RSAClientKeys{DeviceID: []byte(otherDeviceID), Key: key, ServerKey: &b.rsa.PublicKey}})
		if !t.must("attacker's optee-rsa client", err) {
			return
		}
		hello, err := own.Open()
		if !t.must("attacker's RSAHello", err) {
			return
		}
		la, err := b.srv.dial()
		if !t.must("dial", err) {
			return
		}
		resp, err := la.exchange(hello)
		if !t.must("the server's RSAResponse to the attacker", err) {
			return
		}
		_ = la.conn.Close()
		c, _, err = b.open(ctx, gmfs)
		if !t.must("CHANNEL_OPEN", err) {
			return
		}
		_, err = c.cont(ctx, resp)
		t.refused("optee-rsa RSAResponse to the gm-fs handshake → TA", err, refusedByTA)
		t.summarize("REE-asked gm → server ErrDowngrade; MITM gm-fs→gm → server ErrDowngrade or TA %s; MITM →optee-rsa → TA %s; gm-fs accepted", taName, taName)
	}),
}

var chanCrossSession = attack{
	Info: Info{
		ID:      "chan-cross-session",
		Attack:  "hand one session's handshake message to another: session B's ServerHello to the TA's session A (gm-fs, gm), the TA's ClientFinished of D to the server's session C",
		Defence: "each signature covers this session's randoms (gm) or whole transcript (gm-fs), S_A/S_B and Finished its keys (§11.3, §11.4) → PAY_ERROR_CHANNEL_FAILED; the server → ErrSignature",
		Want:    Rejected,
	},
	// No canary: transcript binding is the library's.
	run: given((*runner).chanBench, func(ctx context.Context, r *runner, b *chanBench, t *tally) {
		if !b.control(ctx, t, gmfs) {
			return
		}
		// start opens a TA channel of p and has the server answer it.
		start := func(p chanwire.Profile) (pending, bool) { return b.hello(ctx, t, b.server(p), p) }
		var name string
		for _, p := range []chanwire.Profile{gmfs, gm} {
			a, ok := start(p)
			if !ok {
				return
			}
			bb, ok := start(p)
			if !ok {
				return
			}
			_, err := a.c.cont(ctx, bb.sh)
			name = t.refused("session B's "+p.String()+" ServerHello → TA session A", err, refusedByTA)
			_ = a.l.conn.Close()
			_ = bb.l.conn.Close()
		}
		cs, ok := start(gmfs)
		if !ok {
			return
		}
		ds, ok := start(gmfs)
		if !ok {
			return
		}
		fin, err := ds.c.cont(ctx, ds.sh)
		if !t.must("TA session D finishes", err) {
			return
		}
		_ = ds.l.conn.Close()
		if !t.must("send", cs.l.send(fin)) {
			return
		}
		err = cs.l.verdict()
		t.refused("session D's ClientFinished → server session C", err, channel.ErrSignature)
		t.summarize("cross-session ServerHellos → %s; cross-session ClientFinished → server ErrSignature", name)
	}),
}

var chanOtherDevice = attack{
	Info: Info{
		ID:      "chan-other-device",
		Attack:  "hand the TA a record sealed for another device: the server's feedback to the attacker's own phone; a feedback on this channel addressed to another device or user (a confused server)",
		Defence: "record keys of this session (§11.7); the TA returns a feedback only if it names this device and the calling user (§8.11) → PAY_ERROR_CHANNEL_FAILED",
		Want:    Rejected,
	},
	// Canary: tas.ChanIgnoreAddressee, a TA without the addressee check.
	run: given((*runner).chanBench, func(ctx context.Context, r *runner, b *chanBench, t *tally) {
		if !b.control(ctx, t, gmfs) {
			return
		}
		// The attacker's own phone, certified by the same CA.
		creds, err := b.ca.credentials(otherDeviceID)
		if !t.must("another device's certificates", err) {
			return
		}
		other, err := channel.NewClient(channel.ClientConfig{Profile: gmfs, Credentials: creds, Roots: b.ca.roots, ServerName: chanServerName})
		if !t.must("another device's client", err) {
			return
		}
		lo, err := b.srv.dial()
		if !t.must("dial", err) {
			return
		}
		m1, err := other.Open()
		if !t.must("ClientHello", err) {
			return
		}
		m2, err := lo.exchange(m1)
		if !t.must("server's ServerHello to the other device", err) {
			return
		}
		m3, _, err := other.Continue(m2)
		if !t.must("other device finishes", err) || !t.must("send", lo.send(m3)) {
			return
		}
		rec, err := other.Seal(chanwire.AppMessage{DeviceID: []byte(otherDeviceID), UserID: make([]byte, 16), Custom: []byte("pay")})
		if !t.must("other device's record", err) {
			return
		}
		fbOther, err := lo.exchange(rec)
		if !t.must("the server's feedback to the other device", err) {
			return
		}
		_ = lo.conn.Close()
		c, l, err := b.connect(ctx, b.srv, gmfs)
		if !t.must("honest handshake", err) {
			return
		}
		_, err = c.openRecord(ctx, fbOther)
		name := t.refused("the other device's feedback → TA", err, refusedByTA)
		_ = l.conn.Close()

		// A confused server addresses this channel's feedback elsewhere.
		for _, to := range []struct {
			what string
			pick func(m chanwire.AppMessage) ([]byte, []byte)
		}{
			{"another device", func(m chanwire.AppMessage) ([]byte, []byte) { return []byte(otherDeviceID), m.UserID }},
			{"another user", func(m chanwire.AppMessage) ([]byte, []byte) {
				u := append([]byte(nil), m.UserID...)
				u[0] ^= 0xff
				return m.DeviceID, u
			}},
		} {
			confused, err := startChanServer(b.serverConfig(gmfs))
			if !t.must("confused server", err) {
				return
			}
			confused.addressee = to.pick
			c, l, err := b.connect(ctx, confused, gmfs)
			if !t.must("handshake with the confused server", err) {
				confused.close()
				return
			}
			fb, err := c.roundTrip(ctx, l, "pay")
			if t.must("the confused server's feedback", err) {
				_, err = c.openRecord(ctx, fb)
				t.refused("feedback on this channel addressed to "+to.what+" → TA", err, refusedByTA)
			}
			_ = l.conn.Close()
			confused.close()
		}
		t.summarize("another device's feedback and feedback addressed elsewhere → %s; own feedback accepted", name)
	}),
}

var chanTruncated = attack{
	Info: Info{
		ID:      "chan-truncated",
		Attack:  "truncate the handshake: a cut ServerHello to the TA, a cut ClientHello to the server, a record in place of the dropped ClientFinished, CHANNEL_SEAL before any ServerHello",
		Defence: "strict decoding (§11.2–11.3) and no application data before both Finished (§11.8) → PAY_ERROR_CHANNEL_FAILED; the server → ErrMalformed / ErrUnexpectedMessage",
		Want:    Rejected,
	},
	// No canary: decoding and the state machine are the library's.
	run: given((*runner).chanBench, func(ctx context.Context, r *runner, b *chanBench, t *tally) {
		if !b.control(ctx, t, gmfs) {
			return
		}
		h, ok := b.hello(ctx, t, b.srv, gmfs)
		if !ok {
			return
		}
		_ = h.l.conn.Close()
		_, err := h.c.cont(ctx, halve(h.sh))
		name := t.refused("ServerHello cut in half → TA", err, refusedByTA)

		cut, ok := b.start(ctx, t, b.srv, gmfs, func(m []byte) ([]byte, error) { return halve(m), nil })
		if !ok {
			return
		}
		t.refused("ClientHello cut in half → server", cut.err, channel.ErrMalformed)

		if h, ok = b.hello(ctx, t, b.srv, gmfs); !ok {
			return
		}
		if _, err = h.c.cont(ctx, h.sh); !t.must("TA finishes", err) {
			return
		}
		rec, err := h.c.seal(ctx, "pay")
		if !t.must("CHANNEL_SEAL", err) {
			return
		}
		_, err = h.l.exchange(rec)
		t.refused("a record in place of the dropped ClientFinished → server", err, channel.ErrUnexpectedMessage, channel.ErrMalformed)

		c, _, err := b.open(ctx, gmfs)
		if !t.must("CHANNEL_OPEN", err) {
			return
		}
		_, err = c.seal(ctx, "pay")
		t.refused("CHANNEL_SEAL before any ServerHello", err, refusedByTA)
		t.summarize("cut handshakes → %s / server ErrMalformed, ErrUnexpectedMessage; honest channel carried a message", name)
	}),
}

var chanForgedFeedback = attack{
	Info: Info{
		ID:      "chan-forged-feedback",
		Attack:  "forge the server's feedback: a record made up by the REE (gm-fs), a genuine feedback with one ciphertext bit flipped (gm-fs, optee-rsa)",
		Defence: "SM4-GCM record authentication and the server's application-message signature (gm-fs), the server's RSA-PSS record signature (optee-rsa) (§11.7) → PAY_ERROR_CHANNEL_FAILED",
		Want:    Rejected,
	},
	// No canary: record authentication is the library's.
	run: given((*runner).chanBench, func(ctx context.Context, r *runner, b *chanBench, t *tally) {
		if !b.control(ctx, t, gmfs) {
			return
		}
		c, l, err := b.connect(ctx, b.srv, gmfs)
		if !t.must("honest handshake", err) {
			return
		}
		ct := make([]byte, 96)
		if _, err := rand.Read(ct); !t.must("random", err) {
			return
		}
		forged, err := (&chanwire.Record{Profile: gmfs, Seq: 0, Ciphertext: ct}).Marshal()
		if !t.must("forge a record", err) {
			return
		}
		_, err = c.openRecord(ctx, forged)
		name := t.refused("a record made up by the REE → TA", err, refusedByTA)
		_ = l.conn.Close()

		for _, p := range []chanwire.Profile{gmfs, orsa} {
			c, l, err := b.connect(ctx, b.srv, p)
			if !t.must("honest "+p.String()+" handshake", err) {
				return
			}
			fb, err := c.roundTrip(ctx, l, "pay")
			if !t.must("the server's feedback", err) {
				return
			}
			_ = l.conn.Close()
			// The first ciphertext byte: after header and seq (and, for
			// optee-rsa, the IV and the ciphertext's length).
			at := chanwire.HeaderSize + 8
			if p == orsa {
				at += 16 + 4
			}
			fb[at] ^= 0x01
			_, err = c.openRecord(ctx, fb)
			t.refused("the server's "+p.String()+" feedback with a flipped bit → TA", err, refusedByTA)
		}
		t.summarize("forged and flipped feedback → %s; honest channel carried a message", name)
	}),
}
