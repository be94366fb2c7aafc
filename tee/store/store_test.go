package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLedgerPersists(t *testing.T) {
	p := dbPath(t)
	s := openTest(t, p, ledgerSchema)
	ctx := context.Background()
	for i := range 10 {
		require.NoError(t, appendEntry(ctx, s, int64(i)))
	}
	require.EqualValues(t, 10, checkLedger(t, s))
	require.EqualValues(t, 3+10, s.Generation())
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")

	s2 := openTest(t, p, ledgerSchema)
	require.EqualValues(t, 10, checkLedger(t, s2))
	require.EqualValues(t, 13, s2.Generation())
}

func TestOpenConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		sync int
	}{
		{"default is power", nil, 2},
		{"process", []Option{WithDurability(DurabilityProcess)}, 1},
		{"power", []Option{WithDurability(DurabilityPower)}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := dbPath(t)
			s := openTest(t, p, ledgerSchema, tc.opts...)
			fi, err := os.Stat(p)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
			require.Equal(t, p, s.Path())

			ctx := context.Background()
			var mode string
			var syncMode, fk, rt int
			require.NoError(t, s.wc.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode))
			require.NoError(t, s.wc.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syncMode))
			require.NoError(t, s.wc.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk))
			require.NoError(t, s.wc.QueryRowContext(ctx, "PRAGMA recursive_triggers").Scan(&rt))
			require.Equal(t, "wal", mode)
			require.Equal(t, tc.sync, syncMode, "synchronous: 1 NORMAL (process), 2 FULL (power)")
			require.Equal(t, 1, fk)
			require.Equal(t, 1, rt, "REPLACE deletions must fire the digest triggers")
			require.NoError(t, s.View(ctx, func(tx *Tx) error {
				require.True(t, tx.ReadOnly())
				require.NoError(t, tx.QueryRow("PRAGMA foreign_keys").Scan(&fk))
				require.Equal(t, 1, fk)
				require.NoError(t, tx.QueryRow("PRAGMA synchronous").Scan(&syncMode))
				require.Equal(t, tc.sync, syncMode)
				return nil
			}))
		})
	}
}

func TestParseDurability(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Durability
		ok   bool
	}{
		{"process", DurabilityProcess, true},
		{"power", DurabilityPower, true},
		{"", 0, false},
		{"POWER", 0, false},
		{"full", 0, false},
	} {
		d, err := ParseDurability(tc.in)
		if !tc.ok {
			require.ErrorIs(t, err, ErrInvalidArgument, tc.in)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.want, d)
		require.Equal(t, tc.in, d.String())
	}
	_, err := Open(dbPath(t), testKey(), ledgerSchema, WithDurability(Durability(7)))
	require.ErrorIs(t, err, ErrInvalidArgument)
}

func TestOpenInvalidArguments(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ta.db")
	for _, tc := range []struct {
		name string
		path string
		key  []byte
		opts []Option
	}{
		{"empty path", "", testKey(), nil},
		{"query in path", p + "?mode=ro", testKey(), nil},
		{"uri", "file:" + p, testKey(), nil},
		{"memory", ":memory:", testKey(), nil},
		{"nil key", p, nil, nil},
		{"short key", p, make([]byte, MinStorageKeySize-1), nil},
		{"zero busy timeout", p, testKey(), []Option{WithBusyTimeout(0)}},
		{"no readers", p, testKey(), []Option{WithMaxReaders(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(tc.path, tc.key, ledgerSchema, tc.opts...)
			require.ErrorIs(t, err, ErrInvalidArgument)
			require.Nil(t, s)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Empty(t, entries, "nothing created")
		})
	}
	_, err := Open(filepath.Join(dir, "missing", "ta.db"), testKey(), ledgerSchema)
	require.Error(t, err, "the directory must exist")
}

func TestOpenWrongKey(t *testing.T) {
	p := dbPath(t)
	s, err := Open(p, testKey(), ledgerSchema)
	require.NoError(t, err)
	require.NoError(t, appendEntry(context.Background(), s, 1))
	require.NoError(t, s.Close())

	_, err = Open(p, otherKey(), ledgerSchema)
	require.ErrorIs(t, err, ErrSealedCorrupt)
	require.ErrorIs(t, err, ErrTampered)
	s = openTest(t, p, ledgerSchema)
	require.EqualValues(t, 1, checkLedger(t, s), "a failed Open loses nothing")
}

func TestOpenNotADatabase(t *testing.T) {
	p := dbPath(t)
	require.NoError(t, os.WriteFile(p, []byte("this is not an SQLite database, just REE junk......................................................................"), 0o600))
	_, err := Open(p, testKey(), ledgerSchema)
	require.ErrorIs(t, err, ErrTampered)
}

// TestTamperOffline edits the file while the TA is down, as the REE can.
func TestTamperOffline(t *testing.T) {
	for _, tc := range []struct {
		name string
		sql  string
	}{
		{"plain column edited", `UPDATE balance SET total = total + 100`},
		{"row deleted", `DELETE FROM ledger WHERE seq = 2`},
		{"row inserted", `INSERT INTO ledger(seq, amount, sealed) VALUES (99, 1, x'00')`},
		{"sealed columns swapped", `UPDATE ledger SET sealed = (SELECT sealed FROM ledger WHERE seq = 1) WHERE seq = 2`},
		{"table added", `CREATE TABLE extra (x)`},
		{"trigger added", `CREATE TRIGGER t AFTER INSERT ON ledger BEGIN DELETE FROM balance; END`},
		{"schema version edited", `UPDATE store_meta SET value = 1 WHERE key = 'schema_version'`},
		{"state record deleted", `DELETE FROM store_meta WHERE key = 'state'`},
		{"state record garbled", `UPDATE store_meta SET value = x'0102' WHERE key = 'state'`},
		{"meta dropped", `DROP TABLE store_meta`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := dbPath(t)
			s, err := Open(p, testKey(), ledgerSchema)
			require.NoError(t, err)
			for i := range 3 {
				require.NoError(t, appendEntry(context.Background(), s, int64(i+1)))
			}
			require.NoError(t, s.Close())
			_, err = rawDB(t, p).Exec(tc.sql)
			require.NoError(t, err)
			_, err = Open(p, testKey(), ledgerSchema)
			require.ErrorIs(t, err, ErrTampered)
		})
	}
}

// TestTamperWhileOpen edits the file behind a running store: the next
// write refuses to build on it.
func TestTamperWhileOpen(t *testing.T) {
	p := dbPath(t)
	s := openTest(t, p, ledgerSchema)
	ctx := context.Background()
	require.NoError(t, appendEntry(ctx, s, 1))
	require.NoError(t, s.Verify(ctx))
	_, err := rawDB(t, p).Exec(`UPDATE balance SET total = 1000`)
	require.NoError(t, err)
	require.ErrorIs(t, s.Verify(ctx), ErrTampered)
	require.ErrorIs(t, appendEntry(ctx, s, 1), ErrTampered)
}

func TestSwappedSealedRowsDoNotOpen(t *testing.T) {
	s := openTest(t, dbPath(t), ledgerSchema)
	ctx := context.Background()
	require.NoError(t, appendEntry(ctx, s, 3))
	require.NoError(t, appendEntry(ctx, s, 3))
	// A legitimate transaction that copies row 1's blob into row 2 (same
	// amount, so only the identity differs) must not yield a readable row.
	require.NoError(t, s.Tx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(`UPDATE ledger SET sealed = (SELECT sealed FROM ledger WHERE seq = 1) WHERE seq = 2`)
		return err
	}))
	require.NoError(t, s.View(ctx, func(tx *Tx) error {
		var sealed []byte
		require.NoError(t, tx.QueryRow(`SELECT sealed FROM ledger WHERE seq = 2`).Scan(&sealed))
		pt, err := tx.Unseal("ledger", ledgerID(2), sealed)
		require.ErrorIs(t, err, ErrSealedCorrupt)
		require.Nil(t, pt)
		_, err = tx.Unseal("balance", balanceID(), sealed)
		require.ErrorIs(t, err, ErrSealedCorrupt, "nor as another table's row")
		return nil
	}))
}

func TestMetaIsProtected(t *testing.T) {
	s := openTest(t, dbPath(t), ledgerSchema)
	ctx := context.Background()
	gen := s.Generation()
	for _, q := range []string{
		`UPDATE store_meta SET value = 9 WHERE key = 'schema_version'`,
		`DELETE FROM store_meta`,
		`INSERT INTO store_meta(key, value) VALUES ('x', 1)`,
		`DROP TABLE store_meta`,
		`ALTER TABLE store_meta RENAME TO m`,
		`CREATE INDEX i ON store_meta(value)`,
		`CREATE TRIGGER tr AFTER INSERT ON store_meta BEGIN SELECT 1; END`,
		`PRAGMA journal_mode = DELETE`,
		`PRAGMA synchronous = OFF`,
		`PRAGMA foreign_keys = OFF`,
		`PRAGMA writable_schema = ON`,
		`PRAGMA recursive_triggers = OFF`,
		`PRAGMA temp_store = FILE`,
	} {
		err := s.Tx(ctx, func(tx *Tx) error {
			_, err := tx.Exec(q)
			return err
		})
		require.Error(t, err, q)
	}
	require.Equal(t, gen, s.Generation(), "refused statements change nothing")

	// The ledger insert is now a kept statement (stmt.go): it must not
	// keep the authorization it got before the trigger below existed.
	require.NoError(t, appendEntry(ctx, s, 5))
	require.Contains(t, s.callers, `INSERT INTO ledger(seq, amount, sealed) VALUES (?, ?, ?)`)

	// A trigger on another table whose body writes store_meta can be
	// created, but every statement that would fire it is refused.
	require.NoError(t, s.Tx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(`CREATE TRIGGER tr AFTER INSERT ON ledger BEGIN DELETE FROM store_meta; END`)
		return err
	}))
	require.Error(t, appendEntry(ctx, s, 1))
	require.NoError(t, s.Verify(ctx))
	require.Equal(t, 2, s.Version())
}

func TestViewIsReadOnly(t *testing.T) {
	s := openTest(t, dbPath(t), ledgerSchema)
	ctx := context.Background()
	err := s.View(ctx, func(tx *Tx) error {
		_, err := tx.Exec(`INSERT INTO ledger(seq, amount, sealed) VALUES (1, 1, x'00')`)
		return err
	})
	require.Error(t, err)
	require.EqualValues(t, 0, checkLedger(t, s))
}

func TestClosed(t *testing.T) {
	s, err := Open(dbPath(t), testKey(), ledgerSchema)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	ctx := context.Background()
	noop := func(*Tx) error { return nil }
	require.ErrorIs(t, s.Tx(ctx, noop), ErrClosed)
	require.ErrorIs(t, s.View(ctx, noop), ErrClosed)
	require.ErrorIs(t, s.Verify(ctx), ErrClosed)
}

func TestTxInvalidArguments(t *testing.T) {
	s := openTest(t, dbPath(t), ledgerSchema)
	//nolint:staticcheck // a nil context is the point
	require.ErrorIs(t, s.Tx(nil, func(*Tx) error { return nil }), ErrInvalidArgument)
	require.ErrorIs(t, s.Tx(context.Background(), nil), ErrInvalidArgument)
	require.ErrorIs(t, s.View(context.Background(), nil), ErrInvalidArgument)
}

func TestBusyTimeoutOption(t *testing.T) {
	p := dbPath(t)
	s := openTest(t, p, ledgerSchema, WithBusyTimeout(50*time.Millisecond), WithMaxReaders(1))
	// Another process-like connection holds the write lock: the store's
	// write fails with SQLITE_BUSY after the timeout instead of hanging.
	raw := rawDB(t, p)
	raw.SetMaxOpenConns(1)
	conn, err := raw.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(context.Background(), `BEGIN IMMEDIATE`)
	require.NoError(t, err)
	err = appendEntry(context.Background(), s, 1)
	require.Error(t, err)
	require.Contains(t, err.Error(), "locked")
	_, err = conn.ExecContext(context.Background(), `ROLLBACK`)
	require.NoError(t, err)
	require.NoError(t, appendEntry(context.Background(), s, 1))
}

// TestStateRecordLayout reads the state record as docs/protocol.md §6.5
// describes it.
func TestStateRecordLayout(t *testing.T) {
	p := dbPath(t)
	s, err := Open(p, testKey(), ledgerSchema)
	require.NoError(t, err)
	require.NoError(t, appendEntry(context.Background(), s, 1))
	require.NoError(t, s.Close())

	var blob []byte
	require.NoError(t, rawDB(t, p).QueryRow(`SELECT value FROM store_meta WHERE key = 'state'`).Scan(&blob))
	sealer := newTestSealer(t, testKey())
	pt, err := sealer.Unseal("store_meta", []byte{0x01, 0, 0, 0, 5, 's', 't', 'a', 't', 'e'}, blob)
	require.NoError(t, err)
	require.Len(t, pt, 41)
	require.Equal(t, byte(0x01), pt[0])
	require.Equal(t, []byte{0, 0, 0, 0, 0, 0, 0, 4}, pt[1:9], "init + 2 migrations + 1 write")

	var format, version int
	require.NoError(t, rawDB(t, p).QueryRow(`SELECT value FROM store_meta WHERE key = 'format'`).Scan(&format))
	require.NoError(t, rawDB(t, p).QueryRow(`SELECT value FROM store_meta WHERE key = 'schema_version'`).Scan(&version))
	require.Equal(t, 1, format)
	require.Equal(t, 2, version)
}

// TestOwnStatementsNotCallers: the store's own per-commit statements are
// prepared once and kept (stmt.go), authorized as the store's; a caller
// sending the very same text gets a fresh statement under its own
// authorization, which the authorizer refuses.
func TestOwnStatementsNotCallers(t *testing.T) {
	s := openTest(t, dbPath(t), ledgerSchema)
	ctx := context.Background()
	require.NoError(t, appendEntry(ctx, s, 1)) // primes the cache
	require.NotEmpty(t, s.own)
	gen := s.Generation()
	for _, tc := range []struct {
		q    string
		args []any
	}{
		{qStateUpsert, []any{stateKey, []byte{1, 2}}},
		{qStateUpsert, []any{"schema_version", 9}},
		{qLogReset, nil},
	} {
		err := s.Tx(ctx, func(tx *Tx) error {
			_, err := tx.Exec(tc.q, tc.args...)
			return err
		})
		require.Error(t, err, tc.q)
	}
	require.Equal(t, gen, s.Generation())
	require.NoError(t, appendEntry(ctx, s, 2))
	require.NoError(t, s.Verify(ctx))
	require.NoError(t, s.Close())
	require.Empty(t, s.own, "closed with the writer")
}
