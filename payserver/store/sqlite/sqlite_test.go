package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/store/sqlite"
	"github.com/fpemu/fpemu/payserver/store/storetest"
)

func TestMain(m *testing.M) {
	testkit.Main(m, storetest.ChildEnv, func(mode string) int { return storetest.Child(mode, sqlite.Open) })
}

// harness gives each test its own database file in its own temp dir.
var harness = storetest.Harness{
	New: func(tb testing.TB, opts store.Options) (store.Store, string) {
		path := filepath.Join(tb.TempDir(), "pay.db")
		s, err := sqlite.Open(context.Background(), path, opts)
		require.NoError(tb, err)
		tb.Cleanup(func() { _ = s.Close() })
		return s, path
	},
	Reopen: sqlite.Open,
}

func TestConformance(t *testing.T) { storetest.Run(t, harness) }

func TestOpenRefusesURIs(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro", "x#y"} {
		_, err := sqlite.Open(context.Background(), p, store.Options{})
		require.ErrorIs(t, err, store.ErrInvalid, p)
	}
}

func BenchmarkBook(b *testing.B) { storetest.Bench(b, harness) }
