package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/store/postgres"
	"github.com/fpemu/fpemu/payserver/store/storetest"
)

// dsnEnv names the variable that points the tests at a PostgreSQL server
// (.ci/run starts a throwaway cluster and sets it).
const dsnEnv = "FPEMU_TEST_POSTGRES"

func TestMain(m *testing.M) {
	testkit.Main(m, storetest.ChildEnv, func(mode string) int { return storetest.Child(mode, reopen) })
}

func reopen(ctx context.Context, schema string, opts store.Options) (store.Store, error) {
	return postgres.Open(ctx, postgres.Config{DSN: os.Getenv(dsnEnv), Schema: schema}, opts)
}

// dsn returns the test server's DSN, or skips the test naming the
// variable; under CI=true a missing server fails the test instead.
func dsn(tb testing.TB) string {
	tb.Helper()
	d := os.Getenv(dsnEnv)
	if d != "" {
		return d
	}
	testkit.Unavailable(tb, "PostgreSQL tests: set %s to a libpq DSN (.ci/run starts a server and does this)", dsnEnv)
	return ""
}

// newSchema creates a schema of its own for one test and drops it when
// the test ends, so runs and tests never see each other's rows.
func newSchema(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn(tb))
	require.NoError(tb, err)
	defer conn.Close(ctx)
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "fpemu_test_" + hex.EncodeToString(b[:])
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, os.Getenv(dsnEnv))
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

var harness = storetest.Harness{
	New: func(tb testing.TB, opts store.Options) (store.Store, string) {
		schema := newSchema(tb)
		s, err := reopen(context.Background(), schema, opts)
		require.NoError(tb, err)
		tb.Cleanup(func() { _ = s.Close() })
		return s, schema
	},
	Reopen: reopen,
}

func TestConformance(t *testing.T) { storetest.Run(t, harness) }

// TestConcurrentOpen: servers starting together on an empty schema
// migrate it once (the advisory lock), none fails.
func TestConcurrentOpen(t *testing.T) {
	schema := newSchema(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := reopen(context.Background(), schema, store.Options{})
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}
}

// TestDSNNotInErrors: a password in the DSN never reaches an error.
func TestDSNNotInErrors(t *testing.T) {
	for _, d := range []string{
		"host=/nonexistent-fpemu-dir port=1 user=u password=hunter2-secret dbname=x connect_timeout=2",
		"postgres://u:hunter2-secret@[::1",
	} {
		_, err := postgres.Open(context.Background(), postgres.Config{DSN: d}, store.Options{})
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "hunter2")
	}
}

func BenchmarkBook(b *testing.B) { storetest.Bench(b, harness) }
