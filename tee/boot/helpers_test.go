package boot

import (
	"flag"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// testFused is the fixed fused key of the golden vectors: 00 01 … 1f.
func testFused() FusedKey {
	var k FusedKey
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

// testBootID is the fixed boot ID of the golden vectors.
func testBootID(b byte) BootID {
	var id BootID
	for i := range id {
		id[i] = 0xB0 ^ byte(i) ^ b
	}
	return id
}

func mustProvision(t testing.TB, fused FusedKey, id BootID, role tee.Role) Record {
	t.Helper()
	rec, err := Provision(fused, id, 123_456_789, role)
	require.NoError(t, err)
	return rec
}
