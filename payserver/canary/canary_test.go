package canary

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/payserver/internal/seam"
)

// TestWeaken: in a test binary Weaken sets exactly the checks named, and
// 0 restores them all.
func TestWeaken(t *testing.T) {
	t.Cleanup(func() { seam.Set(0) })
	for _, c := range []Check{SkipBinding, SkipSignature, SkipIdentity, SkipRoots, SkipBinding | SkipSignature, 0} {
		require.NoError(t, Weaken(c))
		assert.Equal(t, c, seam.Skipped())
	}
}
