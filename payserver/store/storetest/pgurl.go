package storetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
)

// PostgresURL returns a postgres:// URL (what `fpemu server --db` takes)
// for a fresh schema in the FPEMU_TEST_POSTGRES database, dropped when
// the test ends. The variable may hold a URL or a key=value DSN (what
// .ci/run exports); a password goes into a 0600 passfile in dir, never
// into the servers' argv; prefix names the schema (prefix_<random>). Without
// the variable the test skips, naming it, and fails under CI=true.
func PostgresURL(t testing.TB, dir, prefix string) string {
	t.Helper()
	dsn := os.Getenv("FPEMU_TEST_POSTGRES")
	if dsn == "" {
		testkit.Unavailable(t, "FPEMU_TEST_POSTGRES not set: no PostgreSQL to run against")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := fmt.Sprintf("%s_%x", prefix, b)
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
		_ = conn.Close(ctx)
	})
	cfg := conn.Config()
	u := url.URL{Scheme: "postgres", User: url.User(cfg.User), Path: "/" + cfg.Database}
	q := url.Values{}
	if strings.HasPrefix(cfg.Host, "/") {
		q.Set("host", cfg.Host) // a Unix socket directory
	} else {
		u.Host = cfg.Host
	}
	q.Set("port", strconv.Itoa(int(cfg.Port)))
	if cfg.TLSConfig == nil {
		q.Set("sslmode", "disable")
	}
	if cfg.Password != "" {
		pass := filepath.Join(dir, "pgpass")
		line := fmt.Sprintf("*:*:*:%s:%s\n", cfg.User, strings.NewReplacer(`\`, `\\`, ":", `\:`).Replace(cfg.Password))
		require.NoError(t, os.WriteFile(pass, []byte(line), 0o600))
		q.Set("passfile", pass)
	}
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
