package sm

import (
	"path/filepath"
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/se/apdu"
)

// FuzzUnwrapCommand: the card's unwrap never panics; it either returns a
// plain command of CLA 00 within the bounds or an error of the two
// refusal kinds, and after an error the session is dead. Seeds: the
// golden protected commands and their plain forms.
func FuzzUnwrapCommand(f *testing.F) {
	for _, v := range testkit.ReadJSON[[]golden](f, filepath.Join("testdata", "golden.json")) {
		f.Add(testkit.Unhex(f, v.Wrapped))
		f.Add(testkit.Unhex(f, v.Plain))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := apdu.ParseCommand(b)
		if err != nil {
			return
		}
		_, card := pair(t)
		p, err := card.UnwrapCommand(c)
		if err != nil {
			if card.Alive() {
				t.Fatalf("session alive after %v", err)
			}
			if sw := StatusWord(err); sw != 0x6987 && sw != 0x6988 {
				t.Fatalf("status %s", sw)
			}
			if p.Data != nil || p.INS != 0 {
				t.Fatalf("partial result %+v", p)
			}
			return
		}
		if p.CLA != 0 || len(p.Data) > MaxPlainData || p.Ne > MaxPlainData {
			t.Fatalf("unwrapped %+v", p)
		}
	})
}

// FuzzUnwrapResponse: the host's unwrap never panics and refuses (and
// dies on) anything but a response the card's session produced.
func FuzzUnwrapResponse(f *testing.F) {
	_, card := pair(f)
	for _, r := range []apdu.Response{{SW: apdu.SWOK}, {Data: []byte("data"), SW: 0x63C5}} {
		w, err := card.WrapResponse(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(w.Marshal())
	}
	f.Add([]byte{0x99, 0x02, 0x90, 0x00, 0x8E, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x90, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := apdu.ParseResponse(b)
		if err != nil {
			return
		}
		h, _ := pair(t)
		out, err := h.UnwrapResponse(r)
		if err != nil {
			if h.Alive() || out.Data != nil || out.SW != 0 {
				t.Fatalf("alive or partial after %v", err)
			}
		}
	})
}
