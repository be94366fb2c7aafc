package fingerprinttest

import (
	"context"
	"path/filepath"
	"testing"

	_ "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/keymaster/keymastertest"
	"github.com/fpemu/fpemu/ta/fingerprint"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
	"github.com/fpemu/fpemu/tee/tacore"
)

// TestVTSInProcess runs the ported cases against the fingerprint TA over
// Unix sockets in this process.
func TestVTSInProcess(t *testing.T) {
	keys := keymastertest.TestKeyring(7)
	ta, err := fingerprint.NewTA(fingerprint.Config{Config: tacore.Config{
		Self:       tee.UUIDFingerprint,
		StorageKey: make32(),
		DBPath:     filepath.Join(t.TempDir(), "fp.db"),
		Keys:       keys.For(tee.UUIDFingerprint),
		BootID:     []byte("boot"),
		Clock:      tee.NewFakeClock(1000),
	}})
	require.NoError(t, err)
	t.Cleanup(func() { ta.Close() })
	cmd := keymastertest.ServeUnix(t, tee.UUIDFingerprint, ta)
	km, err := envelope.NewSealer(tee.UUIDKeymaster, keys, nil)
	require.NoError(t, err)
	env, err := km.Seal(tee.UUIDFingerprint, envelope.MsgAuthTokenKey, make32())
	require.NoError(t, err)
	require.NoError(t, fpproto.SetAuthTokenKey{Envelope: env}.Execute(context.Background(), cmd))
	Run(t, Target{Commands: cmd, Events: keymastertest.ServeUnix(t, tee.UUIDFingerprint, ta), StoreDir: t.TempDir()})
}

func make32() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i + 1)
	}
	return b
}
