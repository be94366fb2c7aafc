package store

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// incSchema exercises every path a row change can take past the digest
// triggers: a rowid table with a foreign-key cascade child, a WITHOUT ROWID
// table, an AUTOINCREMENT table (sqlite_sequence), a table with a
// REPLACE conflict clause, and column names that need quoting.
var incSchema = Schema{
	SQL("tables", `
		CREATE TABLE parent (id INTEGER PRIMARY KEY, v BLOB NOT NULL);
		CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER NOT NULL REFERENCES parent(id) ON DELETE CASCADE, n INTEGER);
		CREATE TABLE kv (k TEXT PRIMARY KEY NOT NULL, "odd ""col""" REAL, v BLOB) WITHOUT ROWID;
		CREATE TABLE seq (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);
		CREATE TABLE rep (k INTEGER NOT NULL UNIQUE ON CONFLICT REPLACE, v TEXT);`),
}

// requireDigestMatchesFull checks that the digest the store committed
// incrementally equals a full recomputation over the committed file.
func requireDigestMatchesFull(t *testing.T, s *Store, msg string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, s.View(ctx, func(tx *Tx) error {
		d, err := stateDigest(ctx, tx.tx, s.digKey)
		require.NoError(t, err)
		s.wmu.Lock()
		committed := s.digest
		s.wmu.Unlock()
		require.Equal(t, d, committed, msg)
		return nil
	}))
}

func TestIncrementalDigestMatchesFull(t *testing.T) {
	ctx := context.Background()
	p := dbPath(t)
	s := openTest(t, p, incSchema)
	requireDigestMatchesFull(t, s, "after migration")
	scans := s.fullScans.Load()

	r := rand.New(rand.NewPCG(1, 2))
	ops := []struct {
		name string
		run  func(tx *Tx) error
	}{
		{"insert parent", func(tx *Tx) error {
			_, err := tx.Exec(`INSERT INTO parent(id, v) VALUES (?, randomblob(?)) ON CONFLICT(id) DO UPDATE SET v = excluded.v`,
				r.IntN(20), 1+r.IntN(64))
			return err
		}},
		{"insert child", func(tx *Tx) error {
			_, err := tx.Exec(`INSERT INTO child(parent, n) SELECT id, ? FROM parent ORDER BY random() LIMIT 1`, r.Int64())
			return err
		}},
		{"update children", func(tx *Tx) error {
			_, err := tx.Exec(`UPDATE child SET n = n / 2 WHERE id % 3 = ?`, r.IntN(3))
			return err
		}},
		{"delete parent (cascade)", func(tx *Tx) error {
			_, err := tx.Exec(`DELETE FROM parent WHERE id = ?`, r.IntN(20))
			return err
		}},
		{"insert or replace kv", func(tx *Tx) error {
			_, err := tx.Exec(`INSERT OR REPLACE INTO kv(k, "odd ""col""", v) VALUES (?, ?, ?)`,
				string(rune('a'+r.IntN(8))), r.Float64(), []byte{byte(r.IntN(256))})
			return err
		}},
		{"kv null and text", func(tx *Tx) error {
			_, err := tx.Exec(`INSERT INTO kv(k, v) VALUES (?, NULL) ON CONFLICT(k) DO UPDATE SET v = 'it''s text'`,
				string(rune('a'+r.IntN(8))))
			return err
		}},
		{"autoincrement", func(tx *Tx) error {
			if _, err := tx.Exec(`INSERT INTO seq(v) VALUES ('x')`); err != nil {
				return err
			}
			_, err := tx.Exec(`DELETE FROM seq WHERE id % 2 = 0`)
			return err
		}},
		{"replace conflict clause", func(tx *Tx) error {
			_, err := tx.Exec(`INSERT INTO rep(k, v) VALUES (?, ?)`, r.IntN(4), "v")
			return err
		}},
		{"delete all kv", func(tx *Tx) error {
			_, err := tx.Exec(`DELETE FROM kv`)
			return err
		}},
		{"failed statement half-way", func(tx *Tx) error {
			// The second row violates the primary key: SQLite undoes
			// the first row's insert, and must undo its log entry too.
			_, err := tx.Exec(`INSERT INTO kv(k, v) VALUES ('dup', 1), ('dup', 2)`)
			require.Error(t, err)
			return nil
		}},
		{"rolled-back savepoint", func(tx *Tx) error {
			if _, err := tx.Exec(`SAVEPOINT sp`); err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT INTO parent(id, v) VALUES (1000, x'00')`); err != nil {
				return err
			}
			if _, err := tx.Exec(`ROLLBACK TO sp`); err != nil {
				return err
			}
			_, err := tx.Exec(`RELEASE sp`)
			return err
		}},
		{"no-op update", func(tx *Tx) error {
			_, err := tx.Exec(`UPDATE parent SET v = v`)
			return err
		}},
	}
	const n = 300
	for range n {
		op := ops[r.IntN(len(ops))]
		require.NoError(t, s.Tx(ctx, op.run), op.name)
		requireDigestMatchesFull(t, s, op.name)
	}
	require.Equal(t, scans, s.fullScans.Load(), "row changes are digested incrementally, never by a full scan")

	// A failed transaction leaves the incremental sum untouched.
	require.Error(t, s.Tx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(`DELETE FROM parent`)
		require.NoError(t, err)
		return ErrInvalidArgument
	}))
	require.NoError(t, s.Tx(ctx, ops[0].run))
	requireDigestMatchesFull(t, s, "after a rolled-back transaction")

	require.NoError(t, s.Verify(ctx))
	require.NoError(t, s.Close())
	s2 := openTest(t, p, incSchema)
	require.NoError(t, s2.Verify(ctx))
}

func TestIncrementalDigestSchemaChanges(t *testing.T) {
	ctx := context.Background()
	p := dbPath(t)
	schema := append(append(Schema{}, incSchema...),
		SQL("drop a column", `ALTER TABLE child DROP COLUMN n`))
	s := openTest(t, p, schema)
	requireDigestMatchesFull(t, s, "after a migration dropping a column")

	for _, tc := range []struct {
		name string
		sql  string
	}{
		{"create table", `CREATE TABLE extra (a, b); INSERT INTO extra VALUES (1, 2)`},
		{"add column", `ALTER TABLE extra ADD COLUMN c DEFAULT 'c'; INSERT INTO extra VALUES (3, 4, 5)`},
		{"drop column", `ALTER TABLE extra DROP COLUMN b`},
		{"rename column", `ALTER TABLE extra RENAME COLUMN a TO z; UPDATE extra SET z = z + 1`},
		{"index", `CREATE INDEX extra_z ON extra(z)`},
		{"view", `CREATE VIEW vz AS SELECT z FROM extra`},
		{"drop table", `DROP VIEW vz; DROP TABLE extra`},
		{"rows after", `INSERT INTO parent(id, v) VALUES (77, x'77')`},
	} {
		require.NoError(t, s.Tx(ctx, func(tx *Tx) error {
			_, err := tx.Exec(tc.sql)
			return err
		}), tc.name)
		requireDigestMatchesFull(t, s, tc.name)
	}
	// After the schema changes, plain row changes are incremental again.
	scans := s.fullScans.Load()
	for i := range 5 {
		require.NoError(t, s.Tx(ctx, func(tx *Tx) error {
			_, err := tx.Exec(`INSERT INTO child(parent) VALUES (77)`)
			return err
		}), i)
		requireDigestMatchesFull(t, s, "row after schema change")
	}
	require.Equal(t, scans, s.fullScans.Load())
	require.NoError(t, s.Close())
	s2 := openTest(t, p, schema)
	require.NoError(t, s2.Verify(ctx))
}

// TestDigestLogGuarded: a caller's statement may not edit or remove the
// digest log or the digest triggers (the store's guarantees would then
// rest on the caller's honesty); the trigger bodies' own INSERTs still run.
func TestDigestLogGuarded(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, dbPath(t), incSchema)
	for _, q := range []string{
		`DELETE FROM ` + digestLog,
		`UPDATE ` + digestLog + ` SET sign = 1`,
		`DROP TABLE temp.` + digestLog,
		`DROP TRIGGER temp.` + digestTrigger + `0_i`,
		`CREATE TEMP TRIGGER ` + digestTrigger + `x AFTER INSERT ON parent BEGIN SELECT 1; END`,
	} {
		err := s.Tx(ctx, func(tx *Tx) error {
			_, err := tx.Exec(q)
			return err
		})
		require.Error(t, err, q)
	}
	require.NoError(t, s.Tx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(`INSERT INTO parent(id, v) VALUES (1, x'01')`)
		return err
	}))
	requireDigestMatchesFull(t, s, "after refused statements")
}

// TestKeptStatementAcrossSchemaChange: a caller's Exec statement kept
// prepared across commits (stmt.go) still fires the digest triggers of the
// current schema after a schema change has re-installed them.
func TestKeptStatementAcrossSchemaChange(t *testing.T) {
	s := openTest(t, dbPath(t), incSchema)
	ctx := context.Background()
	const ins = `INSERT INTO parent(id, v) VALUES (?, ?)`
	put := func(id int) {
		require.NoError(t, s.Tx(ctx, func(tx *Tx) error {
			_, err := tx.Exec(ins, id, []byte{byte(id)})
			return err
		}))
	}
	put(1)
	put(2)
	require.Contains(t, s.callers, ins, "kept")
	scans := s.fullScans.Load()
	put(3)
	require.Equal(t, scans, s.fullScans.Load(), "a kept statement needs no full scan")
	requireDigestMatchesFull(t, s, "before the schema change")
	for i, q := range []string{
		`ALTER TABLE parent ADD COLUMN extra TEXT DEFAULT 'x'`,
		`CREATE TABLE other (a INTEGER)`,
		`CREATE TRIGGER copy AFTER INSERT ON parent BEGIN INSERT INTO other(a) VALUES (NEW.id); END`,
	} {
		require.NoError(t, s.Tx(ctx, func(tx *Tx) error {
			_, err := tx.Exec(q)
			return err
		}), q)
		require.NotContains(t, s.callers, q, "a schema change is never kept")
		put(10 + i)
		requireDigestMatchesFull(t, s, q)
	}
	var n int
	require.NoError(t, s.View(ctx, func(tx *Tx) error {
		return tx.QueryRow(`SELECT count(*) FROM other`).Scan(&n)
	}))
	require.Equal(t, 1, n, "the kept insert fires the trigger created after it was prepared")
	require.NoError(t, s.Verify(ctx))
}
