package shieldmsg

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var goodPS = PreSubmit{ID: strings.Repeat("ab", 16), OrderID: strings.Repeat("01", 16), Device: [16]byte{1, 2, 3},
	Payee: "tea shop", Amount: 12345, Currency: "CNY", Expires: 1700000000000}

func TestPreSubmitRoundTrip(t *testing.T) {
	b, err := goodPS.Marshal()
	require.NoError(t, err)
	got, err := ParsePreSubmit(b)
	require.NoError(t, err)
	assert.Equal(t, goodPS, got)
	for name, mut := range map[string]func(*PreSubmit){
		"upper-case id": func(p *PreSubmit) { p.ID = strings.ToUpper(p.ID) },
		"zero amount":   func(p *PreSubmit) { p.Amount = 0 },
		"currency":      func(p *PreSubmit) { p.Currency = "cny" },
		"bidi payee":    func(p *PreSubmit) { p.Payee = "shop\u202Eevil" },
		"empty payee":   func(p *PreSubmit) { p.Payee = "" },
	} {
		p := goodPS
		mut(&p)
		_, err := p.Marshal()
		assert.ErrorIs(t, err, ErrMalformed, name)
	}
	_, err = ParsePreSubmit(append(b, 0))
	assert.ErrorIs(t, err, ErrMalformed, "trailing byte")
	_, err = ParsePreSubmit(b[:len(b)-1])
	assert.ErrorIs(t, err, ErrMalformed, "truncated")
}

func TestAPDUDataRoundTrip(t *testing.T) {
	rnd, sig := bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{9}, 70)
	r, s, err := ParseLoginAPDUData(LoginAPDUData(rnd, sig))
	require.NoError(t, err)
	assert.Equal(t, rnd, r)
	assert.Equal(t, sig, s)
	_, _, err = ParseLoginAPDUData(LoginAPDUData(rnd[:8], sig))
	assert.ErrorIs(t, err, ErrMalformed, "short random")

	ps, _ := goodPS.Marshal()
	nonce := bytes.Repeat([]byte{5}, 16)
	p, n, s2, err := ParseConfirmAPDUData(ConfirmAPDUData(ps, nonce, sig))
	require.NoError(t, err)
	assert.Equal(t, ps, p)
	assert.Equal(t, nonce, n)
	assert.Equal(t, sig, s2)
	_, _, _, err = ParseConfirmAPDUData(append(ConfirmAPDUData(ps, nonce, sig), 0))
	assert.ErrorIs(t, err, ErrMalformed, "trailing byte")
}

func TestLabelsDistinct(t *testing.T) {
	ls := []string{ServerLogin, CardLogin, ServerPreSubmit, CardConfirm}
	for i := range ls {
		assert.True(t, strings.HasPrefix(ls[i], "fpemu/se/"))
		for j := range ls {
			if i != j {
				assert.False(t, strings.HasPrefix(ls[i], ls[j]))
			}
		}
	}
}

func FuzzParsePreSubmit(f *testing.F) {
	b, _ := goodPS.Marshal()
	f.Add(b)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePreSubmit(b)
		if err != nil {
			return
		}
		again, err := p.Marshal()
		require.NoError(t, err)
		require.Equal(t, b, again)
	})
}

func FuzzParseConfirmAPDUData(f *testing.F) {
	ps, _ := goodPS.Marshal()
	f.Add(ConfirmAPDUData(ps, bytes.Repeat([]byte{5}, 16), bytes.Repeat([]byte{9}, 70)))
	f.Add(LoginAPDUData(bytes.Repeat([]byte{7}, 16), bytes.Repeat([]byte{9}, 70)))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, n, s, err := ParseConfirmAPDUData(b)
		if err == nil {
			require.Equal(t, b, ConfirmAPDUData(p, n, s))
		}
		r, s2, err := ParseLoginAPDUData(b)
		if err == nil {
			require.Equal(t, b, LoginAPDUData(r, s2))
		}
	})
}
