package apdu

import (
	"bytes"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
)

// FuzzParseCommand: ParseCommand never panics; what it accepts re-encodes
// (Marshal) to bytes that parse to the same command, and an error carries
// no partial result. Seeds: every golden vector.
func FuzzParseCommand(f *testing.F) {
	for _, v := range testkit.ReadJSON[[]golden](f, filepath.Join("testdata", "commands.json")) {
		f.Add(testkit.Unhex(f, v.Hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommand(b)
		if err != nil {
			if c.Data != nil || c.Ne != 0 || c.CLA != 0 || c.INS != 0 {
				t.Fatalf("partial result %+v with error %v", c, err)
			}
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("accepted %x but cannot re-encode: %v", b, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding %x gave %x", b, out)
		}
		if c.Ne < 0 || c.Ne > MaxNe || len(c.Data) > MaxNc {
			t.Fatalf("out of bounds: %+v", c)
		}
	})
}

// FuzzParseResponse: ParseResponse never panics and round-trips.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{"9000", "63C5", "6983", "0102039000", "61FF", "", "60", "00"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Marshal(), b) {
			t.Fatalf("round trip of %x gave %x", b, r.Marshal())
		}
	})
}
