package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// The incremental state digest.
//
// A full scan (stateDigest) costs time linear in the database; a commit
// must not. The multiset hash is additive, so a commit only needs the
// hashes of the rows it removed (subtracted) and of the rows it added
// (added): an UPDATE is the removal of the old row and the addition of the
// new one. The store learns them from TEMP triggers on the writer
// connection — AFTER INSERT, UPDATE and DELETE on every digested table —
// that append (sign, row hash) to a TEMP table, the digest log; the row
// hash is computed by a Go SQL function over the same quote()d columns the
// full scan reads, so both paths hash identical bytes. At commit the store
// folds the log into the committed sum, empties it and seals the result.
//
// Why triggers and a log table rather than SQLite's pre-update hook: the
// pre-update hook does not fire for WITHOUT ROWID tables (which store_meta
// and several TAs use) and needs a build tag without which go-sqlite3
// silently never calls it; and a log table is part of the transaction, so a
// statement that fails half-way, or a ROLLBACK TO a savepoint, takes its log
// entries back with its row changes — an in-memory accumulator would not.
// TEMP objects live in the connection's temp database, not in the file: an
// attacker cannot see or edit them, and they are not in sqlite_schema, so
// they do not change the digest.
//
// The writer connection runs with recursive_triggers=ON: without it the
// rows an INSERT OR REPLACE (or a REPLACE conflict clause) deletes fire no
// DELETE trigger. Foreign-key actions (ON DELETE CASCADE, SET NULL) fire the
// child table's triggers.
//
// A commit falls back to a full scan, and then re-installs the triggers for
// the new schema, whenever the triggers could not have seen everything:
//
//   - the transaction ran a statement other than SELECT/INSERT/UPDATE/DELETE
//     (the writer's authorizer flags CREATE, DROP, ALTER, ANALYZE, ATTACH,
//     REINDEX…: a schema change alters sqlite_schema and the column lists);
//   - a statement's text contains DROP or ALTER: the triggers are dropped
//     before it runs, because SQLite refuses ALTER TABLE … DROP COLUMN on a
//     column a trigger names;
//   - a migration step runs (its triggers are dropped before it starts);
//   - the database holds a virtual table (its module writes its shadow
//     tables in ways triggers may not see), in which case every commit is
//     digested in full.
//
// sqlite_sequence takes no triggers; when it exists it is re-read at every
// commit (one row per AUTOINCREMENT table).
//
// The full scan at Open, at Verify and whenever another connection has
// committed (PRAGMA data_version) both checks the committed digest and
// resets the incremental sum from the file, so the guarantees of the
// package doc are those of the full scan; TestIncrementalDigestMatchesFull
// checks that after mixed writes the two agree.
const (
	digestLog     = "store_digest_log" // TEMP table: sign INTEGER, h BLOB
	digestTrigger = "store_dg_"        // prefix of the TEMP digest triggers
	rowHashFunc   = "store_row_hash"   // SQL function: (table, quote(col)…) → 32-byte row hash
)

// txDigest is a write transaction's view of the digest triggers. trig
// lists the installed triggers (nil: none, the commit scans in full); full
// is set when the transaction dropped them.
type txDigest struct {
	trig []string
	full bool
}

// registerRowHash makes store_row_hash available on the writer connection.
func (s *Store) registerRowHash(c *sqlite3.SQLiteConn) error {
	return c.RegisterFunc(rowHashFunc, func(table string, cols ...string) []byte {
		s.rhMu.Lock()
		defer s.rhMu.Unlock()
		vals := s.rhVals[:0]
		for _, c := range cols {
			vals = append(vals, []byte(c))
		}
		s.rhVals = vals
		return append([]byte(nil), s.rh.hash(table, vals)...)
	}, false)
}

// execInternal runs one of the store's own statements on the writer's
// transaction (the authorizer lets it through and does not count it as a
// caller's schema change).
func (s *Store) execInternal(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	s.internal.Store(true)
	defer s.internal.Store(false)
	_, err := tx.ExecContext(ctx, query, args...)
	return err
}

// dropTriggers drops the digest triggers of d, if any.
func (s *Store) dropTriggers(ctx context.Context, tx *sql.Tx, d *txDigest) error {
	if len(d.trig) == 0 {
		d.trig, d.full = nil, true
		return nil
	}
	var b strings.Builder
	for _, n := range d.trig {
		b.WriteString("DROP TRIGGER IF EXISTS temp." + quoteIdent(n) + ";\n")
	}
	if err := s.execInternal(ctx, tx, b.String()); err != nil {
		return dbErr("drop digest triggers", err)
	}
	d.trig, d.full = nil, true
	return nil
}

// installTriggers creates the digest log (if needed, emptied) and the
// digest triggers for tables, and records them in d.
func (s *Store) installTriggers(ctx context.Context, tx *sql.Tx, d *txDigest, tables []tableInfo) error {
	var b strings.Builder
	b.WriteString("CREATE TEMP TABLE IF NOT EXISTS " + digestLog + " (sign INTEGER NOT NULL, h BLOB NOT NULL);\n")
	b.WriteString("DELETE FROM temp." + digestLog + ";\n")
	names := make([]string, 0, 3*len(tables))
	for i, t := range tables {
		for _, k := range []struct{ suffix, event string }{{"i", "INSERT"}, {"u", "UPDATE"}, {"d", "DELETE"}} {
			name := digestTrigger + strconv.Itoa(i) + "_" + k.suffix
			names = append(names, name)
			b.WriteString("CREATE TEMP TRIGGER " + quoteIdent(name) + " AFTER " + k.event +
				" ON main." + quoteIdent(t.name) + " BEGIN\n")
			if k.event != "INSERT" {
				b.WriteString(logInsert(t, "OLD", -1))
			}
			if k.event != "DELETE" {
				b.WriteString(logInsert(t, "NEW", 1))
			}
			b.WriteString("END;\n")
		}
	}
	if err := s.execInternal(ctx, tx, b.String()); err != nil {
		return dbErr("install digest triggers", err)
	}
	d.trig = names
	return nil
}

// logInsert is a trigger body statement appending row ref's (OLD or NEW)
// hash with sign to the digest log. The state record is not digested.
func logInsert(t tableInfo, ref string, sign int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + digestLog + " (sign, h) SELECT " + strconv.Itoa(sign) + ", " +
		rowHashFunc + "(" + sqlString(t.name))
	for _, c := range t.cols {
		b.WriteString(", quote(" + ref + "." + quoteIdent(c) + ")")
	}
	b.WriteString(")")
	if t.name == metaTable {
		b.WriteString(" WHERE " + ref + ".key IS NOT '" + stateKey + "'")
	}
	b.WriteString(";\n")
	return b.String()
}

// foldLog adds the digest log's entries to m and empties the log.
func (s *Store) foldLog(ctx context.Context, tx *sql.Tx, m *msetSum) error {
	rows, err := s.ownQuery(ctx, qLogRead)
	if err != nil {
		return dbErr("read digest log", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sign int64
		var h sql.RawBytes
		if err := rows.Scan(&sign, &h); err != nil {
			return dbErr("read digest log", err)
		}
		if len(h) != 32 || (sign != 1 && sign != -1) {
			return fmt.Errorf("%w: malformed digest log entry", ErrTampered)
		}
		if sign > 0 {
			m.add(h)
		} else {
			m.sub(h)
		}
	}
	if err := rows.Err(); err != nil {
		return dbErr("read digest log", err)
	}
	if err := rows.Close(); err != nil {
		return dbErr("read digest log", err)
	}
	return s.ownExec(ctx, qLogReset)
}

// sqliteRecursive is SQLITE_RECURSIVE (a recursive CTE), which go-sqlite3
// does not export.
const sqliteRecursive = 33

// digestNeutral reports whether an authorizer action code leaves
// sqlite_schema and the column lists alone (rows it changes fire the
// digest triggers).
func digestNeutral(op int) bool {
	switch op {
	case sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE,
		sqlite3.SQLITE_DELETE, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_PRAGMA, sqlite3.SQLITE_TRANSACTION,
		sqlite3.SQLITE_SAVEPOINT, sqliteRecursive:
		return true
	}
	return false
}

// mayAlterSchema reports whether a statement's text contains DROP or ALTER
// (ASCII case-insensitively): such a statement may need the digest
// triggers out of the way (ALTER TABLE … DROP COLUMN of a column a trigger
// names fails). False positives only cost a full scan at commit.
func mayAlterSchema(q string) bool {
	return containsFold(q, "drop") || containsFold(q, "alter")
}

func containsFold(s, word string) bool {
	n := len(word)
	for i := 0; i+n <= len(s); i++ {
		if s[i]|0x20 == word[0] && strings.EqualFold(s[i:i+n], word) {
			return true
		}
	}
	return false
}

// isDigestTrigger reports whether name is one of the digest triggers'.
func isDigestTrigger(name string) bool {
	return len(name) >= len(digestTrigger) && strings.EqualFold(name[:len(digestTrigger)], digestTrigger)
}

// sqlString quotes s as an SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
