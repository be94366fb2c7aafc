package chanwire_test

import (
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
)

// TestCodecIsPure: chanwire links no cryptography, no I/O and no fpemu
// package (docs/architecture.md rule 4: codecs are pure).
func TestCodecIsPure(t *testing.T) {
	testkit.LinksNone(t, ".", "encoding/binary", []string{
		"crypto/aes", "crypto/cipher", "crypto/rsa", "crypto/ecdsa", "crypto/rand", "crypto/sha256",
		"github.com/emmansun/gmsm/sm2", "github.com/emmansun/gmsm/sm3", "github.com/emmansun/gmsm/sm4",
		"net", "os/exec", "github.com/fpemu/fpemu/tee", "github.com/fpemu/fpemu/tee/store",
	})
}
