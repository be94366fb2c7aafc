package payproto

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tokens"
)

// FuzzParseSealPaymentInput: CHANNEL_SEAL_PAYMENT's p2 split by its
// flags never panics; an error is ErrBadRequest with no partial result;
// an accepted input is the key reference's canonical bytes, the token
// (exactly tokens.Size bytes, only with the flag) and the payload, in
// that order, covering the input.
func FuzzParseSealPaymentInput(f *testing.F) {
	ref, err := KeyRef{AppID: "com.example.wallet", Scene: "pay"}.Marshal()
	require.NoError(f, err)
	hat := make([]byte, tokens.Size)
	f.Add(uint32(0), append(append([]byte(nil), ref...), "payload"...))
	f.Add(uint32(SealPaymentWithPassword), append(append(append([]byte(nil), ref...), hat...), "payload"...))
	f.Add(uint32(SealPaymentWithPassword), ref)
	f.Add(uint32(2), ref)
	f.Add(uint32(0), []byte{})
	f.Fuzz(func(t *testing.T, flags uint32, b []byte) {
		r, h, p, err := ParseSealPaymentInput(SealPaymentFlags(flags), b)
		if err != nil {
			require.ErrorIs(t, err, ErrBadRequest)
			require.Equal(t, KeyRef{}, r)
			require.Nil(t, h)
			require.Nil(t, p)
			return
		}
		rb, err := r.Marshal()
		require.NoError(t, err)
		if SealPaymentFlags(flags)&SealPaymentWithPassword != 0 {
			require.Len(t, h, tokens.Size)
		} else {
			require.Nil(t, h)
		}
		require.Equal(t, b, append(append(append([]byte(nil), rb...), h...), p...))
	})
}
