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
