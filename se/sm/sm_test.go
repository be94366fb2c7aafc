package sm

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/se/apdu"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json")

var (
	testK   = bytes.Repeat([]byte{0x4B}, KeySize)
	testICC = bytes.Repeat([]byte{0x11}, RandSize)
	testIFD = bytes.Repeat([]byte{0x22}, RandSize)
)

// pair returns the host's and the card's session over the same keys.
func pair(t testing.TB) (host, card *Session) {
	t.Helper()
	h, err := NewSession(testK, testICC, testIFD)
	require.NoError(t, err)
	c, err := NewSession(testK, testICC, testIFD)
	require.NoError(t, err)
	return h, c
}

func verifyCmd() apdu.Command {
	return apdu.Command{INS: 0x20, P1: 0x00, P2: 0x01, Data: []byte("246810")}
}

func TestRoundTrip(t *testing.T) {
	h, c := pair(t)
	for i, plain := range []apdu.Command{
		verifyCmd(),
		{INS: 0x84, Ne: 16},
		{INS: 0x2A, P1: 0x9E, P2: 0x9A, Data: bytes.Repeat([]byte{7}, 4096), Ne: 1024},
		{INS: 0xCA, P1: 0x01, P2: 0x03, Ne: 8},
		{INS: 0xA4, P1: 0x04, P2: 0x0C, Data: []byte{0xF0, 1, 2}},
		{INS: 0x20, P1: 0xFF, P2: 0x01}, // case 1
	} {
		w, err := h.WrapCommand(plain)
		require.NoError(t, err)
		raw, err := w.Marshal()
		require.NoError(t, err)
		if len(plain.Data) > 0 {
			assert.NotContains(t, string(raw), string(plain.Data), "command %d: data in the clear", i)
		}
		parsed, err := apdu.ParseCommand(raw)
		require.NoError(t, err)
		got, err := c.UnwrapCommand(parsed)
		require.NoError(t, err, "command %d", i)
		assert.Equal(t, plain.INS, got.INS)
		assert.Equal(t, plain.P1, got.P1)
		assert.Equal(t, plain.P2, got.P2)
		assert.Equal(t, plain.Data, got.Data)
		assert.Equal(t, plain.Ne, got.Ne)

		resp := apdu.Response{Data: bytes.Repeat([]byte{byte(i)}, i*10), SW: apdu.VerifyFailed(i)}
		if i == 0 {
			resp.Data = nil
		}
		wr, err := c.WrapResponse(resp)
		require.NoError(t, err)
		assert.Equal(t, apdu.SWOK, wr.SW)
		pr, err := apdu.ParseResponse(wr.Marshal())
		require.NoError(t, err)
		gr, err := h.UnwrapResponse(pr)
		require.NoError(t, err)
		assert.Equal(t, resp.SW, gr.SW)
		assert.Equal(t, resp.Data, gr.Data)
	}
	assert.True(t, h.Alive())
	assert.True(t, c.Alive())
}

// TestRefusals: every rule of the receiver, each on a fresh pair; each
// refusal kills the session (ErrDead afterwards, also for a good APDU).
func TestRefusals(t *testing.T) {
	type tc struct {
		name    string
		mutate  func(t *testing.T, h *Session, first, second []byte) []byte
		missing bool // ErrMissing (6987) rather than ErrInvalid (6988)
	}
	flip := func(i int) func(*testing.T, *Session, []byte, []byte) []byte {
		return func(_ *testing.T, _ *Session, first, _ []byte) []byte {
			b := append([]byte{}, first...)
			if i < 0 {
				i += len(b)
			}
			b[i] ^= 0x01
			return b
		}
	}
	cases := []tc{
		{name: "replayed (same APDU twice)", mutate: func(_ *testing.T, _ *Session, first, _ []byte) []byte { return first }},
		{name: "reordered (a later APDU first)", mutate: func(_ *testing.T, _ *Session, _, second []byte) []byte { return second }},
		{name: "INS tampered", mutate: flip(1)},
		{name: "P1 tampered", mutate: flip(2)},
		{name: "P2 tampered", mutate: flip(3)},
		{name: "cryptogram tampered", mutate: flip(12)},
		{name: "MAC tampered", mutate: flip(-3)},
		{name: "DO 97 removed", mutate: func(t *testing.T, h *Session, first, _ []byte) []byte {
			c, err := apdu.ParseCommand(first)
			require.NoError(t, err)
			i := bytes.Index(c.Data, []byte{TagLe, 2})
			require.GreaterOrEqual(t, i, 0)
			c.Data = append(append([]byte{}, c.Data[:i]...), c.Data[i+4:]...)
			b, err := c.Marshal()
			require.NoError(t, err)
			return b
		}},
		{name: "DO 8E removed (truncated)", missing: true, mutate: func(t *testing.T, _ *Session, first, _ []byte) []byte {
			c, err := apdu.ParseCommand(first)
			require.NoError(t, err)
			c.Data = c.Data[:len(c.Data)-2-MACSize]
			b, err := c.Marshal()
			require.NoError(t, err)
			return b
		}},
		{name: "truncated inside a DO", mutate: func(t *testing.T, _ *Session, first, _ []byte) []byte {
			c, err := apdu.ParseCommand(first)
			require.NoError(t, err)
			c.Data = c.Data[:len(c.Data)-1]
			b, err := c.Marshal()
			require.NoError(t, err)
			return b
		}},
		{name: "DOs out of order", mutate: func(t *testing.T, _ *Session, first, _ []byte) []byte {
			c, err := apdu.ParseCommand(first)
			require.NoError(t, err)
			n := len(c.Data) - 2 - MACSize
			c.Data = append(append([]byte{}, c.Data[n:]...), c.Data[:n]...)
			b, err := c.Marshal()
			require.NoError(t, err)
			return b
		}},
		{name: "class 00 with SM data", mutate: func(_ *testing.T, _ *Session, first, _ []byte) []byte {
			b := append([]byte{}, first...)
			b[0] = 0x08
			return b
		}},
		{name: "wrong session key", mutate: func(t *testing.T, _ *Session, _, _ []byte) []byte {
			other, err := NewSession(bytes.Repeat([]byte{0x4C}, KeySize), testICC, testIFD)
			require.NoError(t, err)
			w, err := other.WrapCommand(verifyCmd())
			require.NoError(t, err)
			b, err := w.Marshal()
			require.NoError(t, err)
			return b
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, card := pair(t)
			w1, err := h.WrapCommand(apdu.Command{INS: 0x2A, P1: 0x9E, P2: 0x9A, Data: []byte("pay 10.00 CNY"), Ne: 256})
			require.NoError(t, err)
			first, err := w1.Marshal()
			require.NoError(t, err)
			w2, err := h.WrapCommand(apdu.Command{INS: 0x84, Ne: 16})
			require.NoError(t, err)
			second, err := w2.Marshal()
			require.NoError(t, err)
			if c.name == "replayed (same APDU twice)" {
				p, err := apdu.ParseCommand(first)
				require.NoError(t, err)
				_, err = card.UnwrapCommand(p)
				require.NoError(t, err)
			}
			bad := c.mutate(t, h, first, second)
			p, err := apdu.ParseCommand(bad)
			require.NoError(t, err)
			_, err = card.UnwrapCommand(p)
			require.Error(t, err)
			if c.missing {
				require.ErrorIs(t, err, ErrMissing)
				assert.Equal(t, apdu.SW(0x6987), StatusWord(err))
			} else {
				require.ErrorIs(t, err, ErrInvalid)
				assert.Equal(t, apdu.SW(0x6988), StatusWord(err))
			}
			assert.False(t, card.Alive())
			p2, err := apdu.ParseCommand(second)
			require.NoError(t, err)
			_, err = card.UnwrapCommand(p2)
			require.ErrorIs(t, err, ErrDead, "the session stays dead")
		})
	}
}

func TestResponseRefusals(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(first, second apdu.Response) apdu.Response
		want   error
	}{
		{"replayed", func(f, _ apdu.Response) apdu.Response { return f }, ErrInvalid},
		{"reordered", func(_, s apdu.Response) apdu.Response { return s }, ErrInvalid},
		{"status tampered", func(f, _ apdu.Response) apdu.Response {
			d := append([]byte{}, f.Data...)
			d[bytes.Index(d, []byte{TagSW, 2})+3] ^= 1
			return apdu.Response{Data: d, SW: f.SW}
		}, ErrInvalid},
		{"outer status not 9000", func(f, _ apdu.Response) apdu.Response { return apdu.Response{Data: f.Data, SW: 0x6988} }, ErrInvalid},
		{"DO 99 missing", func(f, _ apdu.Response) apdu.Response {
			d := append([]byte{}, f.Data...)
			i := bytes.Index(d, []byte{TagSW, 2})
			return apdu.Response{Data: append(d[:i:i], d[i+4:]...), SW: f.SW}
		}, ErrMissing},
		{"unprotected answer", func(_, _ apdu.Response) apdu.Response { return apdu.Response{Data: []byte("hi"), SW: apdu.SWOK} }, ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, card := pair(t)
			w, err := h.WrapCommand(verifyCmd())
			require.NoError(t, err)
			_, err = card.UnwrapCommand(w)
			require.NoError(t, err)
			r1, err := card.WrapResponse(apdu.Response{Data: []byte("first"), SW: apdu.SWOK})
			require.NoError(t, err)
			r2, err := card.WrapResponse(apdu.Response{Data: []byte("second"), SW: apdu.SWOK})
			require.NoError(t, err)
			if c.name == "replayed" {
				_, err := h.UnwrapResponse(r1)
				require.NoError(t, err)
			}
			_, err = h.UnwrapResponse(c.mutate(r1, r2))
			require.ErrorIs(t, err, c.want)
			assert.False(t, h.Alive())
			_, err = h.WrapCommand(verifyCmd())
			require.ErrorIs(t, err, ErrDead)
		})
	}
}

func TestCryptograms(t *testing.T) {
	hc, err := HostCryptogram(testK, testICC, testIFD)
	require.NoError(t, err)
	cc, err := CardCryptogram(testK, testICC, testIFD)
	require.NoError(t, err)
	assert.Len(t, hc, CryptoSize)
	assert.NotEqual(t, hc, cc, "the two directions differ (no reflection)")
	require.NoError(t, CheckCryptogram(hc, hc))
	other, err := HostCryptogram(bytes.Repeat([]byte{1}, KeySize), testICC, testIFD)
	require.NoError(t, err)
	require.ErrorIs(t, CheckCryptogram(other, hc), ErrAuth)
	require.ErrorIs(t, CheckCryptogram(hc[:8], hc), ErrAuth)
	_, err = HostCryptogram(testK[:8], testICC, testIFD)
	require.ErrorIs(t, err, ErrKey)
	_, err = NewSession(testK, testICC[:8], testIFD)
	require.Error(t, err)
}

type golden struct {
	Name    string `json:"name"`
	Plain   string `json:"plain"`
	Wrapped string `json:"wrapped"`
}

// TestGolden pins the encoding: the first protected commands of a
// session with K = 4B…, RND.ICC = 11…, RND.IFD = 22….
func TestGolden(t *testing.T) {
	h, _ := pair(t)
	var got []golden
	for _, c := range []struct {
		name string
		cmd  apdu.Command
	}{
		{"VERIFY 246810", verifyCmd()},
		{"GET DATA serial", apdu.Command{INS: 0xCA, P1: 0x01, P2: 0x03, Ne: 8}},
		{"VERIFY reset", apdu.Command{INS: 0x20, P1: 0xFF, P2: 0x01}},
	} {
		p, err := c.cmd.Marshal()
		require.NoError(t, err)
		w, err := h.WrapCommand(c.cmd)
		require.NoError(t, err)
		wb, err := w.Marshal()
		require.NoError(t, err)
		got = append(got, golden{Name: c.name, Plain: hex.EncodeToString(p), Wrapped: hex.EncodeToString(wb)})
	}
	path := filepath.Join("testdata", "golden.json")
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	}
	assert.Equal(t, testkit.ReadJSON[[]golden](t, path), got)
}
