package ca

import (
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/channel"
	"github.com/fpemu/fpemu/channel/chanwire"
)

func creds(t *testing.T, sk, ek *sm2.PrivateKey, is *Issued) *channel.SM2Credentials {
	x, err := channel.NewKeyExchanger(ek)
	require.NoError(t, err)
	return &channel.SM2Credentials{SignCert: is.Certs[0], Signer: sk, EncCert: is.Certs[1], Exchange: x, Decrypter: ek}
}

// TestChannelHandshake: dual pairs the CA issues are what package
// channel's gm and gm-fs profiles expect of each side (docs/protocol.md
// §11.5): a device and a server with CA-issued certificates complete a
// handshake and exchange an application message; a device whose pair was
// revoked is turned away by the server's VerifyDevice hook; a root that
// did not issue the server's pair fails the client.
func TestChannelHandshake(t *testing.T) {
	c := newTestCA(t)
	dsk, dek, dev := dualFor(t, c, ProfileDevice, "device-0001")
	ssk, sek, srv := dualFor(t, c, ProfileServer, "pay.fpemu.test")
	roots := smx509.NewCertPool()
	roots.AddCert(c.Root())
	now := func() time.Time { return testNow.Add(time.Hour) }

	revoked := map[string]bool{}
	verifyDevice := func(sign, enc *smx509.Certificate) error {
		if revoked[FormatSerial(sign.SerialNumber)] || revoked[FormatSerial(enc.SerialNumber)] {
			return ErrRevoked
		}
		return nil
	}
	run := func(p chanwire.Profile, clientRoots *smx509.CertPool) error {
		cl, err := channel.NewClient(channel.ClientConfig{Profile: p, Now: now, Credentials: creds(t, dsk, dek, dev),
			Roots: clientRoots, ServerName: "pay.fpemu.test"})
		require.NoError(t, err)
		sv, err := channel.NewServer(channel.ServerConfig{Profiles: []chanwire.Profile{p}, Now: now,
			Credentials: creds(t, ssk, sek, srv), Roots: roots, VerifyDevice: verifyDevice})
		require.NoError(t, err)
		m1, err := cl.Open()
		require.NoError(t, err)
		m2, _, err := sv.Handle(m1)
		if err != nil {
			return err
		}
		m3, est, err := cl.Continue(m2)
		if err != nil {
			return err
		}
		require.True(t, est)
		_, est, err = sv.Handle(m3)
		if err != nil {
			return err
		}
		require.True(t, est)
		msg := chanwire.AppMessage{DeviceID: []byte("device-0001"), UserID: []byte("u1"), Custom: []byte("order A1")}
		rec, err := cl.Seal(msg)
		require.NoError(t, err)
		got, err := sv.OpenRecord(rec)
		require.NoError(t, err)
		require.Equal(t, msg.Custom, got.Custom)
		return nil
	}
	for _, p := range []chanwire.Profile{chanwire.ProfileGMFS, chanwire.ProfileGM} {
		t.Run(p.String(), func(t *testing.T) {
			require.NoError(t, run(p, roots))
		})
	}
	other := newTestCA(t)
	otherRoots := smx509.NewCertPool()
	otherRoots.AddCert(other.Root())
	require.ErrorIs(t, run(chanwire.ProfileGMFS, otherRoots), channel.ErrCertificate)

	revoked[FormatSerial(dev.Certs[0].SerialNumber)] = true
	require.ErrorIs(t, run(chanwire.ProfileGMFS, roots), channel.ErrIdentity)
}
