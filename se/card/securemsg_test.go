package card

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/se/apdu"
	"github.com/fpemu/fpemu/se/cardproto"
	"github.com/fpemu/fpemu/se/sm"
)

// initSM personalises the card's SM key (admin PIN) and returns it.
func initSM(t *testing.T, h *host) []byte {
	t.Helper()
	r := h.cmd(apdu.Command{CLA: cardproto.ClaProprietary, INS: cardproto.InsInitSMKey, Data: pinBlock(DefaultAdmin), Ne: 16})
	require.Equal(t, apdu.SWOK, r.SW)
	require.Len(t, r.Data, sm.KeySize)
	return r.Data
}

// establish runs GET CHALLENGE / MUTUAL AUTHENTICATE and returns the
// host's session.
func establish(t *testing.T, h *host, k []byte) *sm.Session {
	t.Helper()
	r := h.cmd(apdu.Command{INS: cardproto.InsGetChallenge, Ne: sm.RandSize})
	require.Equal(t, apdu.SWOK, r.SW)
	ifd := bytes.Repeat([]byte{0x5A}, sm.RandSize)
	hc, err := sm.HostCryptogram(k, r.Data, ifd)
	require.NoError(t, err)
	a := h.cmd(apdu.Command{INS: cardproto.InsMutualAuth, Data: append(append([]byte{}, ifd...), hc...), Ne: 16})
	require.Equal(t, apdu.SWOK, a.SW)
	want, err := sm.CardCryptogram(k, r.Data, ifd)
	require.NoError(t, err)
	require.NoError(t, sm.CheckCryptogram(a.Data, want), "the card proves K too")
	s, err := sm.NewSession(k, r.Data, ifd)
	require.NoError(t, err)
	return s
}

// protected sends one command under s and returns the card's raw answer.
func protected(t *testing.T, h *host, s *sm.Session, c apdu.Command) apdu.Response {
	t.Helper()
	w, err := s.WrapCommand(c)
	require.NoError(t, err)
	return h.cmd(w)
}

// TestSecureMessagingRules: each card-side rule of §15.4.
func TestSecureMessagingRules(t *testing.T) {
	c := openCard(t, testkit.ShortDir(t))
	h := newHost(t, c)
	require.Equal(t, apdu.SWOK, h.sw(selectAPDU))

	// No SM key yet: MUTUAL AUTHENTICATE 6A88; plain PIN commands work.
	require.Equal(t, apdu.SWOK, h.cmd(apdu.Command{INS: cardproto.InsGetChallenge, Ne: 16}).SW)
	assert.Equal(t, apdu.SWReferencedDataNotFound, h.cmd(apdu.Command{INS: cardproto.InsMutualAuth, Data: make([]byte, 32)}).SW)
	// INITIALIZE SM KEY: the admin PIN counted on its own counter.
	assert.Equal(t, apdu.VerifyFailed(MaxAdminTries-1), h.cmd(apdu.Command{CLA: cardproto.ClaProprietary, INS: cardproto.InsInitSMKey, Data: pinBlock("87654321")}).SW)
	k := initSM(t, h)
	assert.Equal(t, apdu.SWSecurityNotSatisfied, h.cmd(verifyAPDU(TransportPIN)).SW, "plain VERIFY refused once keyed")

	// MUTUAL AUTHENTICATE needs a fresh 16-byte challenge, once.
	assert.Equal(t, apdu.SWConditionsNotSatisfied, h.cmd(apdu.Command{INS: cardproto.InsMutualAuth, Data: make([]byte, 32)}).SW)
	require.Equal(t, apdu.SWOK, h.cmd(apdu.Command{INS: cardproto.InsGetChallenge, Ne: 16}).SW)
	assert.Equal(t, apdu.SW(0x6300), h.cmd(apdu.Command{INS: cardproto.InsMutualAuth, Data: make([]byte, 32)}).SW, "wrong cryptogram")
	assert.Equal(t, apdu.SWConditionsNotSatisfied, h.cmd(apdu.Command{INS: cardproto.InsMutualAuth, Data: make([]byte, 32)}).SW, "challenge used up")

	// A protected APDU with no session: 6988.
	other, err := sm.NewSession(k, make([]byte, 16), make([]byte, 16))
	require.NoError(t, err)
	assert.Equal(t, apdu.SW(0x6988), protected(t, h, other, verifyAPDU(TransportPIN)).SW)

	s := establish(t, h, k)
	r := protected(t, h, s, verifyAPDU(TransportPIN))
	pr, err := s.UnwrapResponse(r)
	require.NoError(t, err)
	assert.Equal(t, apdu.SWOK, pr.SW)
	// Under SM: INITIALIZE SM KEY, GET RESPONSE, SELECT are refused inside the session.
	for _, cmd := range []apdu.Command{
		{INS: cardproto.InsGetResponse, Ne: 16},
		{INS: cardproto.InsSelect, P1: 4, P2: 0x0C, Data: cardproto.AID},
	} {
		pr, err := s.UnwrapResponse(protected(t, h, s, cmd))
		require.NoError(t, err)
		assert.Equal(t, apdu.SWConditionsNotSatisfied, pr.SW, "INS %02X", cmd.INS)
	}
	// A plain APDU in the middle of the session: 6987, session and PIN status gone.
	assert.Equal(t, apdu.SW(0x6987), h.cmd(apdu.Command{INS: cardproto.InsGetChallenge, Ne: 8}).SW)
	_, err = s.WrapCommand(verifyAPDU(TransportPIN))
	require.NoError(t, err)
	assert.Equal(t, apdu.SW(0x6988), protected(t, h, s, apdu.Command{INS: cardproto.InsVerify, P2: RefUser}).SW, "old session is gone on the card")

	// A new session: not verified any more; a response longer than Ne is 6CXX.
	s2 := establish(t, h, k)
	pr, err = s2.UnwrapResponse(protected(t, h, s2, apdu.Command{INS: cardproto.InsVerify, P2: RefUser}))
	require.NoError(t, err)
	assert.Equal(t, apdu.VerifyFailed(MaxUserTries), pr.SW)
	pr, err = s2.UnwrapResponse(protected(t, h, s2, apdu.Command{INS: cardproto.InsGetData, P1: 1, P2: 3, Ne: 4}))
	require.NoError(t, err)
	assert.Equal(t, apdu.SWWrongLe|8, pr.SW)
	pr, err = s2.UnwrapResponse(protected(t, h, s2, apdu.Command{CLA: 0, INS: cardproto.InsGetData, P1: 1, P2: 3, Ne: 8}))
	require.NoError(t, err)
	assert.Len(t, pr.Data, 8)

	// A card reset ends the session.
	h.s.Reset()
	require.Equal(t, apdu.SWOK, h.sw(selectAPDU))
	assert.Equal(t, apdu.SW(0x6988), protected(t, h, s2, apdu.Command{INS: cardproto.InsVerify, P2: RefUser}).SW)
}

// TestInitSMKeyNotUnderSM: the key is never handed out under a session
// derived from the key it replaces.
func TestInitSMKeyNotUnderSM(t *testing.T) {
	c := openCard(t, testkit.ShortDir(t))
	h := newHost(t, c)
	require.Equal(t, apdu.SWOK, h.sw(selectAPDU))
	k := initSM(t, h)
	_ = establish(t, h, k)
	// The proprietary class cannot be protected (sm protects CLA 00
	// only); a class-8C APDU is not secure messaging, so in the middle
	// of a session it is a plain APDU: 6987 and the session ends.
	raw := append([]byte{0x8C, cardproto.InsInitSMKey, 0, 0, 0x10}, pinBlock(DefaultAdmin)...)
	assert.Equal(t, apdu.SW(0x6987), h.raw(raw).SW)
}
