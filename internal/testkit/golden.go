package testkit

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// ReadJSON decodes the JSON file at path (golden vectors under a
// package's testdata) into a T, failing tb if it cannot be read or
// decoded.
func ReadJSON[T any](tb testing.TB, path string) T {
	tb.Helper()
	var v T
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("golden vectors: %v", err)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		tb.Fatalf("golden vectors %s: %v", path, err)
	}
	return v
}

// Unhex decodes the hex of a golden vector or test literal, failing tb if
// it is not hex. Spaces between bytes are allowed, as the golden files of
// ISO 7816 APDUs write them.
func Unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		tb.Fatalf("hex %q: %v", s, err)
	}
	return b
}

// ReadHex reads an annotated hex file (a golden encoding under a
// package's testdata): '#' starts a comment to the end of the line and
// whitespace is ignored; what is left must be hex.
func ReadHex(tb testing.TB, path string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("golden hex: %v", err)
	}
	var sb strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		sb.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(sb.String())
	if err != nil {
		tb.Fatalf("golden hex %s: %v", path, err)
	}
	return b
}
