package card

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/se/apdu"
	"github.com/fpemu/fpemu/se/cardproto"
)

func openCard(t testing.TB, dir string) *Card {
	t.Helper()
	c, err := Open(dir, Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// host drives one session with hex APDUs.
type host struct {
	t *testing.T
	s *Session
}

func newHost(t *testing.T, c *Card) *host { return &host{t: t, s: c.NewSession()} }

// send transmits a hex APDU and returns the response, fetching 61XX parts
// with GET RESPONSE as a reader driver would.
func (h *host) send(hexAPDU string) apdu.Response {
	h.t.Helper()
	raw, err := hex.DecodeString(strings.ReplaceAll(hexAPDU, " ", ""))
	require.NoError(h.t, err)
	return h.raw(raw)
}

func (h *host) raw(raw []byte) apdu.Response {
	h.t.Helper()
	ctx := context.Background()
	r, err := apdu.ParseResponse(h.s.Transmit(ctx, raw))
	require.NoError(h.t, err)
	data := r.Data
	for r.SW&0xFF00 == apdu.SWBytesRemaining {
		r, err = apdu.ParseResponse(h.s.Transmit(ctx, []byte{0, 0xC0, 0, 0, r.SW.SW2()}))
		require.NoError(h.t, err)
		data = append(data, r.Data...)
	}
	r.Data = data
	return r
}

func (h *host) cmd(c apdu.Command) apdu.Response {
	h.t.Helper()
	b, err := c.Marshal()
	require.NoError(h.t, err)
	return h.raw(b)
}

func (h *host) sw(hexAPDU string) apdu.SW { h.t.Helper(); return h.send(hexAPDU).SW }

const selectAPDU = "00A4040007F04650454D5501"

func verifyAPDU(pin string) apdu.Command {
	return apdu.Command{INS: cardproto.InsVerify, P2: RefUser, Data: []byte(pin)}
}

func pinBlock(pin string) []byte {
	b := []byte(pin)
	for len(b) < pinBlockSize {
		b = append(b, 0xFF)
	}
	return b
}

func changeAPDU(ref byte, old, nw string) apdu.Command {
	return apdu.Command{INS: cardproto.InsChangeRefData, P2: ref, Data: append(pinBlock(old), pinBlock(nw)...)}
}

func TestSelect(t *testing.T) {
	h := newHost(t, openCard(t, testkit.ShortDir(t)))
	assert.Equal(t, apdu.SWConditionsNotSatisfied, h.sw("0020000100"[:8]), "nothing selected")
	assert.Equal(t, apdu.SWFileNotFound, h.sw("00A4040007F04650454D5502"))
	r := h.send(selectAPDU + "00")
	require.Equal(t, apdu.SWOK, r.SW)
	assert.Equal(t, "6F0984"+"07F04650454D5501", strings.ToUpper(hex.EncodeToString(r.Data)))
	assert.Equal(t, apdu.SWOK, h.sw("00A4040C07F04650454D5501"))
	assert.Equal(t, apdu.SWIncorrectP1P2, h.sw("00A4000007F04650454D5501"))
	assert.Equal(t, apdu.SWINSNotSupported, h.sw("00EE0000"))
	assert.Equal(t, apdu.SWINSNotSupported, h.sw("00600000"))
	assert.Equal(t, apdu.SWINSNotSupported, h.sw("80200001"), "class 80 carries only INITIALIZE SM KEY")
	assert.Equal(t, apdu.SWCLANotSupported, h.sw("A0200001"))
	assert.Equal(t, apdu.SWWrongLength, h.sw("002000010631"))
}

// TestVerifyCounter: issue 12's PIN rules, in order, on one card: 63C5 …
// 63C0 for six wrong PINs, then 6983 for every later VERIFY including the
// right PIN and the query, also after a restart of the card.
func TestVerifyCounter(t *testing.T) {
	dir := testkit.ShortDir(t)
	c := openCard(t, dir)
	h := newHost(t, c)
	require.Equal(t, apdu.SWOK, h.sw(selectAPDU))
	assert.Equal(t, apdu.VerifyFailed(6), h.sw("00200001"), "query: 6 tries, none spent")
	assert.Equal(t, apdu.VerifyFailed(6), h.sw("00200001"))
	// a right PIN resets the count
	assert.Equal(t, apdu.VerifyFailed(5), h.cmd(verifyAPDU("000000")).SW)
	assert.Equal(t, apdu.SWOK, h.cmd(verifyAPDU(TransportPIN)).SW)
	assert.Equal(t, apdu.SWOK, h.sw("00200001"), "verified in this session")
	assert.Equal(t, apdu.SWOK, h.sw("0020FF01"), "reset the status")
	assert.Equal(t, apdu.VerifyFailed(6), h.sw("00200001"))
	// malformed PINs spend nothing
	for _, bad := range []string{"12345", "12345678901234567", "12a456", "123 56"} {
		assert.Equal(t, apdu.SWWrongData, h.cmd(verifyAPDU(bad)).SW, bad)
	}
	assert.Equal(t, apdu.VerifyFailed(6), h.sw("00200001"))
	for want := 5; want >= 0; want-- {
		assert.Equal(t, apdu.VerifyFailed(want), h.cmd(verifyAPDU("999999")).SW)
	}
	for range 3 {
		assert.Equal(t, apdu.SWAuthMethodBlocked, h.cmd(verifyAPDU(TransportPIN)).SW)
		assert.Equal(t, apdu.SWAuthMethodBlocked, h.sw("00200001"))
	}
	require.NoError(t, c.Close())
	c2 := openCard(t, dir)
	h2 := newHost(t, c2)
	require.Equal(t, apdu.SWOK, h2.sw(selectAPDU))
	assert.Equal(t, apdu.SWAuthMethodBlocked, h2.cmd(verifyAPDU(TransportPIN)).SW, "blocked across a restart")
	n, err := c2.TriesLeft(context.Background(), RefUser)
	require.NoError(t, err)
	assert.Zero(t, n)
}

// TestUnblock: RESET RETRY COUNTER with the admin PIN (SKF_UnblockPIN),
// the admin PIN's own counter, CHANGE REFERENCE DATA rules.
func TestUnblock(t *testing.T) {
	c := openCard(t, testkit.ShortDir(t))
	h := newHost(t, c)
	require.Equal(t, apdu.SWOK, h.sw(selectAPDU))
	for range 6 {
		h.cmd(verifyAPDU("999999"))
	}
	require.Equal(t, apdu.SWAuthMethodBlocked, h.sw("00200001"))
	rrc := func(admin, nw string) apdu.SW {
		return h.cmd(apdu.Command{INS: cardproto.InsResetRetry, P2: RefUser, Data: append(pinBlock(admin), pinBlock(nw)...)}).SW
	}
	assert.Equal(t, apdu.VerifyFailed(9), rrc("87654321", "246810"), "wrong admin PIN: its own counter")
	assert.Equal(t, apdu.VerifyFailed(9), h.sw("00200002"))
	assert.Equal(t, apdu.SWAuthMethodBlocked, h.sw("00200001"), "user still blocked")
	assert.Equal(t, apdu.SWWrongData, rrc(DefaultAdmin, TransportPIN), "the transport PIN is not a new PIN")
	assert.Equal(t, apdu.SWOK, rrc(DefaultAdmin, "246810"))
	assert.Equal(t, apdu.VerifyFailed(10), h.sw("00200002"), "right admin PIN restores its count")
	assert.Equal(t, apdu.VerifyFailed(6), h.sw("00200001"), "user PIN unblocked with its full count")
	assert.Equal(t, apdu.SWOK, h.cmd(verifyAPDU("246810")).SW)
	assert.Equal(t, apdu.VerifyFailed(5), h.cmd(verifyAPDU(TransportPIN)).SW, "old PIN gone")
}

func TestChangeReferenceData(t *testing.T) {
	c := openCard(t, testkit.ShortDir(t))
	h := newHost(t, c)
	require.Equal(t, apdu.SWOK, h.sw(selectAPDU))
	tests := []struct {
		name string
		cmd  apdu.Command
		want apdu.SW
	}{
		{"same PIN", changeAPDU(RefUser, TransportPIN, TransportPIN), apdu.SWWrongData},
		{"short new PIN", changeAPDU(RefUser, TransportPIN, "12345"), apdu.SWWrongData},
		{"bad padding", apdu.Command{INS: cardproto.InsChangeRefData, P2: RefUser, Data: append(append([]byte("123456"), make([]byte, 10)...), pinBlock("654321")...)}, apdu.SWWrongData},
		{"wrong length", apdu.Command{INS: cardproto.InsChangeRefData, P2: RefUser, Data: []byte("123456654321")}, apdu.SWWrongData},
		{"unknown reference", changeAPDU(0x03, TransportPIN, "654321"), apdu.SWReferencedDataNotFound},
		{"wrong old PIN spends a try", changeAPDU(RefUser, "111111", "654321"), apdu.VerifyFailed(5)},
		{"right old PIN", changeAPDU(RefUser, TransportPIN, "654321"), apdu.SWOK},
		{"old PIN no longer works", verifyAPDU(TransportPIN), apdu.VerifyFailed(5)},
		{"new PIN works and resets", verifyAPDU("654321"), apdu.SWOK},
		{"admin PIN change", changeAPDU(RefAdmin, DefaultAdmin, "1122334455"), apdu.SWOK},
		{"admin back to default refused", changeAPDU(RefAdmin, "1122334455", DefaultAdmin), apdu.SWWrongData},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, h.cmd(tt.cmd).SW, tt.name)
	}
	n, err := c.TriesLeft(context.Background(), RefUser)
	require.NoError(t, err)
	assert.Equal(t, MaxUserTries, n)
}
