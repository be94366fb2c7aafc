package ca

import (
	"context"
	"testing"

	"github.com/emmansun/gmsm/smx509"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestShieldProfile: the shield profile issues a sign-only client
// certificate carrying the card policy OIDShieldCard (and only it does);
// a policy asked for in the request is not copied; usage enc or dual is
// refused; the subject follows the device rules.
func TestShieldProfile(t *testing.T) {
	ctx := context.Background()
	c := newTestCA(t)
	assert.Equal(t, "2.25.53650578824672744156796476339035030011", OIDShieldCard.String())

	_, req := csrFor(t, CSRTemplate{CommonName: "se-0011223344556677", Organization: "fpemu shield"})
	is, err := c.Issue(ctx, Request{CSR: req, Profile: ProfileShield})
	require.NoError(t, err)
	require.Len(t, is.Certs, 1)
	leaf := is.Certs[0]
	assert.True(t, HasShieldPolicy(leaf))
	require.Len(t, leaf.Policies, 1)
	assert.Equal(t, signKeyUsage, leaf.KeyUsage)
	assert.Equal(t, []smx509.ExtKeyUsage{smx509.ExtKeyUsageClientAuth}, leaf.ExtKeyUsage)
	back, err := smx509.ParseCertificate(leaf.Raw)
	require.NoError(t, err)
	assert.True(t, HasShieldPolicy(back), "the policy survives DER")

	// a device certificate never carries it
	_, _, dev := dualFor(t, c, ProfileDevice, "device-0001")
	for _, crt := range dev.Certs {
		assert.False(t, HasShieldPolicy(crt))
	}

	for name, r := range map[string]Request{
		"enc":              {Profile: ProfileShield, Usage: UsageEnc},
		"dual":             {Profile: ProfileShield, Usage: UsageDual},
		"server-like name": {Profile: ProfileShield},
	} {
		var err error
		if name == "server-like name" {
			_, r.CSR = csrFor(t, CSRTemplate{CommonName: "pay.fpemu.test"})
			_, err = c.Issue(ctx, r)
			assert.ErrorIs(t, err, ErrSubject, name)
			continue
		}
		_, r.CSR = csrFor(t, CSRTemplate{CommonName: "se-1"})
		_, r.EncCSR = csrFor(t, CSRTemplate{CommonName: "se-1"})
		_, err = c.Issue(ctx, r)
		assert.ErrorIs(t, err, ErrProfile, name)
	}
}

// TestShieldDevice: the issuer names the device a card is for
// (Request.Device): the subject is CN=device with the request's O in
// place of the card's CN, and ShieldDevice reads it back; a card
// certificate issued without one names no device; a device that is not
// 32 lower-case hex digits, or a device for another profile, is refused.
func TestShieldDevice(t *testing.T) {
	ctx := context.Background()
	c := newTestCA(t)
	const dev = "00112233445566778899aabbccddeeff"
	_, req := csrFor(t, CSRTemplate{CommonName: "se-0011223344556677", Organization: "fpemu shield"})
	is, err := c.Issue(ctx, Request{CSR: req, Profile: ProfileShield, Device: dev})
	require.NoError(t, err)
	leaf := is.Certs[0]
	assert.Equal(t, dev, leaf.Subject.CommonName)
	assert.Equal(t, []string{"fpemu shield"}, leaf.Subject.Organization)
	got, err := ShieldDevice(leaf)
	require.NoError(t, err)
	assert.Equal(t, dev, got)

	_, req = csrFor(t, CSRTemplate{CommonName: "se-8899"})
	is, err = c.Issue(ctx, Request{CSR: req, Profile: ProfileShield})
	require.NoError(t, err)
	_, err = ShieldDevice(is.Certs[0])
	assert.ErrorIs(t, err, ErrSubject, "a card certificate without a device names none")

	for name, tc := range map[string]struct {
		r    Request
		want error
	}{
		"upper case":     {Request{Profile: ProfileShield, Device: "00112233445566778899AABBCCDDEEFF"}, ErrSubject},
		"short":          {Request{Profile: ProfileShield, Device: "0011"}, ErrSubject},
		"not hex":        {Request{Profile: ProfileShield, Device: "se-112233445566778899aabbccddeef"}, ErrSubject},
		"device profile": {Request{Profile: ProfileDevice, Device: dev}, ErrProfile},
	} {
		_, tc.r.CSR = csrFor(t, CSRTemplate{CommonName: "se-77"})
		_, err := c.Issue(ctx, tc.r)
		assert.ErrorIs(t, err, tc.want, name)
	}
}
