package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// testKey is a fixed 32-byte storage key for tests (never a real key).
func testKey() []byte {
	k := sha256.Sum256([]byte("fpemu tee/store test storage key"))
	return k[:]
}

func otherKey() []byte {
	k := sha256.Sum256([]byte("fpemu tee/store other storage key"))
	return k[:]
}

// ledgerSchema is a two-table schema with an invariant: balance.total is
// the sum of ledger amounts and balance.n their count; every ledger row
// and the balance row carry a sealed copy bound to their identity.
var ledgerSchema = Schema{
	SQL("create ledger", `CREATE TABLE ledger (
		seq INTEGER PRIMARY KEY,
		amount INTEGER NOT NULL,
		sealed BLOB NOT NULL);`),
	SQL("create balance", `CREATE TABLE balance (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		n INTEGER NOT NULL,
		total INTEGER NOT NULL,
		sealed BLOB NOT NULL);`),
}

func dbPath(t testing.TB) string { return filepath.Join(t.TempDir(), "ta.db") }

func openTest(t testing.TB, path string, schema Schema, opts ...Option) *Store {
	t.Helper()
	s, err := Open(path, testKey(), schema, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func ledgerID(seq int64) []byte { return Identity(Str("seq"), I64(seq)) }
func balanceID() []byte         { return Identity(Str("balance")) }
func balancePlain(n, total int64) []byte {
	return []byte{byte(n >> 8), byte(n), byte(total >> 8), byte(total)}
}

// appendEntry is one state change: a ledger row and the balance update.
func appendEntry(ctx context.Context, s *Store, amount int64) error {
	return s.Tx(ctx, func(tx *Tx) error { return addEntry(tx, amount, nil) })
}

// addEntry appends ledger row seq (the next one) for amount inside tx, then
// runs also(seq) when it is not nil (a test's further rows in the same
// transaction), then updates the balance row.
func addEntry(tx *Tx, amount int64, also func(seq int64) error) error {
	var n, total int64
	err := tx.QueryRow(`SELECT n, total FROM balance WHERE id = 1`).Scan(&n, &total)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	seq := n + 1
	sl, err := tx.Seal("ledger", ledgerID(seq), []byte{byte(amount)})
	if err != nil {
		return err
	}
	if _, err := tx.Exec(`INSERT INTO ledger(seq, amount, sealed) VALUES (?, ?, ?)`, seq, amount, sl); err != nil {
		return err
	}
	if also != nil {
		if err := also(seq); err != nil {
			return err
		}
	}
	sb, err := tx.Seal("balance", balanceID(), balancePlain(n+1, total+amount))
	if err != nil {
		return err
	}
	_, err = tx.Exec(`INSERT INTO balance(id, n, total, sealed) VALUES (1, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET n = excluded.n, total = excluded.total, sealed = excluded.sealed`,
		n+1, total+amount, sb)
	return err
}

// checkLedger verifies the invariant and every sealed value; it returns
// the number of entries.
func checkLedger(t testing.TB, s *Store) int64 {
	t.Helper()
	var n, total int64
	err := s.View(context.Background(), func(tx *Tx) error {
		rows, err := tx.Query(`SELECT seq, amount, sealed FROM ledger ORDER BY seq`)
		if err != nil {
			return err
		}
		defer rows.Close()
		var cnt, sum int64
		for rows.Next() {
			var seq, amount int64
			var sealed []byte
			require.NoError(t, rows.Scan(&seq, &amount, &sealed))
			cnt++
			require.Equal(t, cnt, seq, "ledger has a gap")
			pt, err := tx.Unseal("ledger", ledgerID(seq), sealed)
			require.NoError(t, err)
			require.Equal(t, []byte{byte(amount)}, pt)
			sum += amount
		}
		require.NoError(t, rows.Err())
		var sealed []byte
		err = tx.QueryRow(`SELECT n, total, sealed FROM balance WHERE id = 1`).Scan(&n, &total, &sealed)
		if err == sql.ErrNoRows {
			require.Zero(t, cnt)
			return nil
		}
		require.NoError(t, err)
		pt, err := tx.Unseal("balance", balanceID(), sealed)
		require.NoError(t, err)
		require.Equal(t, balancePlain(n, total), pt)
		require.Equal(t, cnt, n, "balance count != ledger rows")
		require.Equal(t, sum, total, "balance total != ledger sum")
		return nil
	})
	require.NoError(t, err)
	return n
}

// rawDB opens the file directly, as the REE could.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", path+"?_journal_mode=WAL")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}
