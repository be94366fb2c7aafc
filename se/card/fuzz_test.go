package card

import (
	"context"
	"encoding/hex"
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/se/apdu"
)

// FuzzTransmit: Session.Transmit never panics and always answers a
// well-formed response APDU (a valid status word, at most
// apdu.MaxResponseSize bytes), whatever the bytes and whatever state the
// earlier inputs of the same session left (SELECT first, then the input
// split in two APDUs). The card is personalised with an SM key so the
// secure-messaging paths are reachable. Seeds: the APDUs of the tests.
func FuzzTransmit(f *testing.F) {
	for _, h := range []string{
		selectAPDU, "0020000106313233343536", "00200001", "0084000010", "00C0000010",
		"0082000020" + "00000000000000000000000000000000" + "00000000000000000000000000000000",
		"0C20000100000E970200108E08F1C11261B35BB63D0000", "002A9E9A03616263", "10DA010203010203",
		"80E2000010" + hex.EncodeToString(pinBlock(DefaultAdmin)), "00CA010300",
	} {
		b, err := hex.DecodeString(h)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(len(b)))
	}
	c := openCard(f, testkit.ShortDir(f))
	h := c.NewSession()
	ctx := context.Background()
	sel, _ := hex.DecodeString(selectAPDU)
	h.Transmit(ctx, sel)
	init, _ := hex.DecodeString("80E2000010" + hex.EncodeToString(pinBlock(DefaultAdmin)) + "10")
	if r, err := apdu.ParseResponse(h.Transmit(ctx, init)); err != nil || r.SW != apdu.SWOK {
		f.Fatalf("init SM key: %v %v", r.SW, err)
	}
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		s := c.NewSession()
		s.Transmit(ctx, sel)
		n := min(int(cut), len(b))
		for _, part := range [][]byte{b[:n], b[n:], b} {
			out := s.Transmit(ctx, part)
			if len(out) > apdu.MaxResponseSize {
				t.Fatalf("response of %d bytes", len(out))
			}
			if _, err := apdu.ParseResponse(out); err != nil {
				t.Fatalf("malformed response %x: %v", out, err)
			}
		}
	})
}
