package envelope

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
)

func TestTEEResult(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code tee.Result
		ok   bool
	}{
		{ErrMalformed, tee.ResultBadFormat, true},
		{ErrWrongRecipient, tee.ResultAccessDenied, true},
		{ErrUnknownSender, tee.ResultAccessDenied, true},
		{ErrBadType, tee.ResultAccessDenied, true},
		{ErrAuth, tee.ResultSecurity, true},
		{ErrReplay, tee.ResultSecurity, true},
		// Not refusals of Open: the TA decides.
		{nil, 0, false},
		{ErrNoRoute, 0, false},
		{ErrPayloadTooLarge, 0, false},
		{ErrSequenceExhausted, 0, false},
		{ErrBadConfig, 0, false},
		{errors.New("store: closed"), 0, false},
	} {
		name := "nil"
		if tc.err != nil {
			name = tc.err.Error()
		}
		t.Run(name, func(t *testing.T) {
			code, ok := TEEResult(tc.err)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.code, code)
			if tc.err != nil {
				code, ok = TEEResult(fmt.Errorf("ta: command: %w", tc.err))
				require.Equal(t, tc.ok, ok, "wrapped")
				require.Equal(t, tc.code, code, "wrapped")
			}
		})
	}
}

// TestTEEResultOfOpen maps what Open really returns.
func TestTEEResultOfOpen(t *testing.T) {
	keys := testKeyring(1)
	km := mustSealer(t, tee.UUIDKeymaster, keys)
	gk := mustOpener(t, tee.UUIDGatekeeper, keys)
	env, err := km.Seal(tee.UUIDGatekeeper, MsgAuthTokenKey, make([]byte, 32))
	require.NoError(t, err)
	_, err = gk.Open(env)
	require.NoError(t, err)

	forged := append([]byte(nil), env...)
	forged[len(forged)-1] ^= 1
	for _, tc := range []struct {
		name string
		b    []byte
		code tee.Result
	}{
		{"truncated", env[:10], tee.ResultBadFormat},
		{"forged", forged, tee.ResultSecurity},
		{"replayed", env, tee.ResultSecurity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gk.Open(tc.b)
			require.Error(t, err)
			code, ok := TEEResult(err)
			require.True(t, ok, "%v", err)
			require.Equal(t, tc.code, code)
		})
	}
	fp := mustOpener(t, tee.UUIDFingerprint, keys)
	_, err = fp.Open(env)
	code, ok := TEEResult(err)
	require.True(t, ok)
	require.Equal(t, tee.ResultAccessDenied, code, "envelope for another TA")
}
