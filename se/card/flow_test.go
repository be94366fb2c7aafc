package card

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/payserver/ca"
	"github.com/fpemu/fpemu/se/apdu"
	"github.com/fpemu/fpemu/se/cardproto"
)

// putChained sends data as PUT DATA in a command chain of short APDUs
// (ISO/IEC 7816-4 §5.3.3), as a PC/SC host without extended length does.
func (h *host) putChained(p1p2 uint16, data []byte) apdu.SW {
	h.t.Helper()
	for len(data) > 255 {
		r := h.cmd(apdu.Command{CLA: 0x10, INS: cardproto.InsPutData, P1: byte(p1p2 >> 8), P2: byte(p1p2), Data: data[:255]})
		require.Equal(h.t, apdu.SWOK, r.SW)
		data = data[255:]
	}
	return h.cmd(apdu.Command{INS: cardproto.InsPutData, P1: byte(p1p2 >> 8), P2: byte(p1p2), Data: data}).SW
}

func issue(t *testing.T, c *ca.CA, csr []byte) []byte {
	t.Helper()
	iss, err := c.Issue(context.Background(), ca.Request{CSR: csr, Profile: ca.ProfileShield})
	require.NoError(t, err)
	p7, err := iss.PKCS7()
	require.NoError(t, err)
	return p7
}

// TestIssuanceAndSigning is seed 002's certificate issuance (card keygen →
// P10 → the CA of payserver/ca → P7 → card) and signing, with every
// security condition on the way: the transport PIN refuses key use
// (6985), a new session needs VERIFY (6982), the signature verifies
// against the issued certificate's key with Z (default user ID).
func TestIssuanceAndSigning(t *testing.T) {
	authority, err := ca.Init(t.TempDir()+"/ca", ca.InitOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = authority.Close() })

	c := openCard(t, testkit.ShortDir(t))
	h := newHost(t, c)
	require.Equal(t, apdu.SWOK, h.sw(selectAPDU))
	assert.Equal(t, apdu.SWSecurityNotSatisfied, h.sw("0046000000"), "keygen needs the PIN")
	require.Equal(t, apdu.SWOK, h.cmd(verifyAPDU(TransportPIN)).SW)
	assert.Equal(t, apdu.SWConditionsNotSatisfied, h.sw("0046000000"), "transport PIN: no key use")
	assert.Equal(t, apdu.SWConditionsNotSatisfied, h.sw("002A9E9A03616263"), "transport PIN: no signing")
	require.Equal(t, apdu.SWOK, h.cmd(changeAPDU(RefUser, TransportPIN, "20250601")).SW)
	require.Equal(t, apdu.SWOK, h.cmd(verifyAPDU("20250601")).SW)
	assert.Equal(t, apdu.SWReferencedDataNotFound, h.sw("002A9E9A0361626300"), "no key yet")

	gen := h.send("0046000000")
	require.Equal(t, apdu.SWOK, gen.SW)
	require.Len(t, gen.Data, 5+65)
	assert.Equal(t, []byte{0x7F, 0x49, 67, 0x86, 65}, gen.Data[:5])
	pub, err := ParsePoint(gen.Data[5:])
	require.NoError(t, err)
	read := h.send("00CA010400")
	require.Equal(t, apdu.SWOK, read.SW)
	assert.Equal(t, gen.Data[5:], read.Data)

	csr := h.send("00CA010100")
	require.Equal(t, apdu.SWOK, csr.SW)
	req, err := smx509.ParseCertificateRequest(csr.Data)
	require.NoError(t, err)
	require.NoError(t, req.CheckSignature())
	assert.True(t, req.PublicKey.(*ecdsa.PublicKey).Equal(pub))
	assert.Equal(t, apdu.SWReferencedDataNotFound, h.sw("00CA010200"), "no certificate yet")

	// a certificate of another key is refused
	other, err := sm2.GenerateKey(rand.Reader)
	require.NoError(t, err)
	otherCSR, err := ca.NewCSR(rand.Reader, other, ca.CSRTemplate{CommonName: "other-card"})
	require.NoError(t, err)
	assert.Equal(t, apdu.SWWrongData, h.putChained(cardproto.DOCertificate, issue(t, authority, otherCSR)))
	assert.Equal(t, apdu.SWWrongData, h.putChained(cardproto.DOCertificate, []byte{0x30, 0x03, 0x02, 0x01, 0x01}))

	p7 := issue(t, authority, csr.Data)
	require.Greater(t, len(p7), 255, "the P7 needs chaining")
	require.Equal(t, apdu.SWOK, h.putChained(cardproto.DOCertificate, p7))
	got := h.send("00CA010200")
	require.Equal(t, apdu.SWOK, got.SW)
	cert, err := smx509.ParseCertificate(got.Data)
	require.NoError(t, err)
	require.NoError(t, cert.CheckSignatureFrom(authority.Root()))

	msg := []byte("pre-submit: pay 100.00 CNY to merchant 42, nonce 7f3a")
	sig := h.cmd(apdu.Command{INS: cardproto.InsPSO, P1: 0x9E, P2: 0x9A, Data: msg, Ne: 256})
	require.Equal(t, apdu.SWOK, sig.SW)
	certPub := cert.PublicKey.(*ecdsa.PublicKey)
	assert.True(t, sm2.VerifyASN1WithSM2(certPub, nil, msg, sig.Data), "SM2 with Z, default user ID")
	assert.False(t, sm2.VerifyASN1WithSM2(certPub, nil, append(msg, '!'), sig.Data))
	assert.Equal(t, apdu.SWWrongData, h.cmd(apdu.Command{INS: cardproto.InsPSO, P1: 0x9E, P2: 0x9A, Data: []byte(InternalAuthLabel + "12345678")}).SW,
		"the card's own label cannot be signed through PSO")

	chal := []byte("server random 0123456789")
	ia := h.cmd(apdu.Command{INS: cardproto.InsInternalAuth, Data: chal, Ne: 256})
	require.Equal(t, apdu.SWOK, ia.SW)
	assert.True(t, sm2.VerifyASN1WithSM2(certPub, nil, append([]byte(InternalAuthLabel), chal...), ia.Data))
	assert.Equal(t, apdu.SWWrongData, h.cmd(apdu.Command{INS: cardproto.InsInternalAuth, Data: []byte("short"), Ne: 256}).SW)

	ch := h.send("0084000010")
	require.Equal(t, apdu.SWOK, ch.SW)
	assert.Len(t, ch.Data, 16)
	assert.Equal(t, apdu.SWWrongLe|apdu.SW(cardproto.MaxChallenge), h.sw("0084000021"))

	// a new session (power cycle) must VERIFY again
	h2 := newHost(t, c)
	require.Equal(t, apdu.SWOK, h2.sw(selectAPDU))
	assert.Equal(t, apdu.SWSecurityNotSatisfied, h2.sw("002A9E9A0361626300"))
	assert.Equal(t, apdu.SWSecurityNotSatisfied, h2.sw("00880000"+"08"+"0102030405060708"+"00"))
	assert.Equal(t, apdu.VerifyFailed(5), h2.cmd(verifyAPDU("000000")).SW)
	assert.Equal(t, apdu.SWSecurityNotSatisfied, h2.sw("002A9E9A0361626300"), "a failed VERIFY leaves it unverified")
	require.Equal(t, apdu.SWOK, h2.cmd(verifyAPDU("20250601")).SW)
	assert.Equal(t, apdu.SWOK, h2.sw("002A9E9A0361626300"))
	// selecting again clears the security status
	require.Equal(t, apdu.SWOK, h2.sw(selectAPDU))
	assert.Equal(t, apdu.SWSecurityNotSatisfied, h2.sw("002A9E9A0361626300"))

	// regenerating drops the old certificate
	require.Equal(t, apdu.SWOK, h2.cmd(verifyAPDU("20250601")).SW)
	require.Equal(t, apdu.SWOK, h2.sw("0046000000"))
	assert.Equal(t, apdu.SWReferencedDataNotFound, h2.sw("00CA010200"))
}

func TestExtendedAndChainingErrors(t *testing.T) {
	c := openCard(t, testkit.ShortDir(t))
	h := newHost(t, c)
	require.Equal(t, apdu.SWOK, h.sw(selectAPDU))
	// extended-length SELECT works like the short one
	r := h.cmd(apdu.Command{INS: cardproto.InsSelect, P1: 4, Data: cardproto.AID, Ne: 300, Extended: true})
	assert.Equal(t, apdu.SWOK, r.SW)
	// a chain broken by another command
	require.Equal(t, apdu.SWOK, h.cmd(apdu.Command{CLA: 0x10, INS: cardproto.InsPutData, P1: 1, P2: 2, Data: []byte{1}}).SW)
	assert.Equal(t, apdu.SWLastCommandExpected, h.sw("00200001"))
	// chaining an instruction that does not take it
	assert.Equal(t, apdu.SW(0x6884), h.cmd(apdu.Command{CLA: 0x10, INS: cardproto.InsVerify, P2: 1, Data: []byte("123456")}).SW)
	// a chain longer than cardproto.MaxChainSize
	chunk := make([]byte, 255)
	var last apdu.SW
	for range cardproto.MaxChainSize/255 + 2 {
		last = h.cmd(apdu.Command{CLA: 0x10, INS: cardproto.InsPutData, P1: 1, P2: 2, Data: chunk}).SW
		if last != apdu.SWOK {
			break
		}
	}
	assert.Equal(t, apdu.SWWrongLength, last)
	// GET RESPONSE with nothing pending
	assert.Equal(t, apdu.SWConditionsNotSatisfied, h.sw("00C0000000"))
}
