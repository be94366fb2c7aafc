package envelope

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
)

// FuzzOpen feeds arbitrary bytes to the payment TA's Opener. It must never
// panic, must return no message with an error, and every error must be one
// of the package's sentinels. An accepted envelope must come from a route
// the payment TA is the recipient of, with a type the route carries.
func FuzzOpen(f *testing.F) {
	keys := testKeyring(0)
	km := mustSealer(f, tee.UUIDKeymaster, keys)
	fp := mustSealer(f, tee.UUIDFingerprint, keys)
	for _, payload := range [][]byte{nil, []byte("k"), make([]byte, 64)} {
		b, err := km.Seal(tee.UUIDPayment, MsgAuthTokenKey, payload)
		require.NoError(f, err)
		f.Add(b)
		b, err = fp.Seal(tee.UUIDPayment, MsgFingerList, payload)
		require.NoError(f, err)
		f.Add(b)
		f.Add(b[:len(b)-1])
		b, err = km.Seal(tee.UUIDGatekeeper, MsgAuthTokenKey, payload)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add(make([]byte, Overhead))
	f.Fuzz(func(t *testing.T, b []byte) {
		o := mustOpener(t, tee.UUIDPayment, keys.For(tee.UUIDPayment))
		m, err := o.Open(b)
		if err != nil {
			require.Equal(t, Message{}, m)
			known := false
			for _, s := range []error{ErrMalformed, ErrWrongRecipient, ErrUnknownSender, ErrBadType, ErrAuth, ErrReplay} {
				known = known || errors.Is(err, s)
			}
			require.True(t, known, "untyped error %v", err)
			return
		}
		require.True(t, TypeAllowed(tee.Route{From: m.From, To: tee.UUIDPayment}, m.Type))
		_, err = o.Open(b)
		require.ErrorIs(t, err, ErrReplay, "an accepted envelope must not open twice")
	})
}
