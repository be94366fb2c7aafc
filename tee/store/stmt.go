package store

import (
	"context"
	"database/sql"
	"strings"
)

// The store's own per-commit statements (PRAGMA data_version, the digest
// log's read and reset, the state record's upsert) are prepared once on
// the pinned writer connection and kept, instead of being parsed and
// compiled again at every commit: preparing the upsert alone compiled the
// digest triggers on store_meta each time (about a sixth of a commit's
// CPU before this cache). A statement prepared on a *sql.Conn always runs
// on that connection, so it runs inside the write transaction open on it.
//
// They are prepared and run with s.internal set, so the authorizer lets
// them through and does not count them as a caller's schema change — also
// when SQLite re-prepares one after a schema change (sqlite3_prepare_v2
// re-prepares on SQLITE_SCHEMA, calling the authorizer again). Callers
// cannot reach these statements: they are keyed by the store's constant
// query strings, and a caller's Tx.Exec of the same text is prepared
// afresh under the caller's authorization (the driver's own statement
// cache, _stmt_cache_size, is deliberately not enabled on the writer: it
// would hand a caller a statement the authorizer approved for the store).
//
// The set is fixed (ownQueries), so the cache is bounded; it is guarded
// by s.wmu and closed with the writer connection.

const (
	qDataVersion = "PRAGMA data_version"
	qLogRead     = "SELECT sign, h FROM temp." + digestLog
	qLogReset    = "DELETE FROM temp." + digestLog
	qStateUpsert = `INSERT INTO ` + metaTable + `(key, value) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`
)

// ownQueries is every statement ownStmt may cache.
var ownQueries = map[string]bool{qDataVersion: true, qLogRead: true, qLogReset: true, qStateUpsert: true}

// ownStmt returns the prepared statement of one of ownQueries, preparing
// it on first use. s.wmu is held and s.internal set by the caller.
func (s *Store) ownStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := s.own[query]; st != nil {
		return st, nil
	}
	if !ownQueries[query] {
		return nil, invalidf("not a store statement")
	}
	st, err := s.wc.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if s.own == nil {
		s.own = make(map[string]*sql.Stmt, len(ownQueries))
	}
	s.own[query] = st
	return st, nil
}

// ownExec runs one of the store's own statements in the write
// transaction open on the writer connection.
func (s *Store) ownExec(ctx context.Context, query string, args ...any) error {
	s.internal.Store(true)
	defer s.internal.Store(false)
	st, err := s.ownStmt(ctx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

// ownQuery runs one of the store's own queries in the write transaction
// open on the writer connection. The rows must be closed before the
// transaction ends.
func (s *Store) ownQuery(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s.internal.Store(true)
	defer s.internal.Store(false)
	st, err := s.ownStmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// closeOwn closes the cached statements (the store's and the callers').
func (s *Store) closeOwn() error {
	var first error
	for _, m := range []map[string]*sql.Stmt{s.own, s.callers} {
		for q, st := range m {
			if err := st.Close(); err != nil && first == nil {
				first = err
			}
			delete(m, q)
		}
	}
	return first
}

// maxCallerStmts bounds the caller statements kept prepared on the
// writer connection (one TA's handful of write statements; dynamically
// built SQL beyond the bound is prepared per use, as before).
const maxCallerStmts = 64

// callerExec runs a caller's Tx.Exec in the write transaction, keeping
// the prepared statement for the next commit when that is safe:
//
//   - it is one statement (no ';' but trailing ones: a script runs
//     through the connection as before, and a ';' inside a literal only
//     makes the check conservative);
//   - mayAlterSchema is false and the authorizer flagged nothing as a
//     possible schema change while preparing it (s.nonNeutral did not
//     move), so running it again needs no full digest;
//   - the authorizer approved it as a caller's (s.internal is false while
//     it is prepared): its decision depends only on the statement, and
//     SQLite re-prepares — consulting the authorizer again — whenever the
//     schema changes (a trigger added later whose body writes store_meta
//     is refused then, TestMetaIsProtected), so a kept statement is never
//     run under an older authorization than a fresh one would get.
//
// Only Exec statements are kept: an Exec finishes (and resets) before it
// returns, whereas two open Rows of one kept query would share it.
// s.wmu is held.
func (s *Store) callerExec(ctx context.Context, query string, args ...any) (sql.Result, bool, error) {
	if st := s.callers[query]; st != nil {
		res, err := st.ExecContext(ctx, args...)
		return res, true, err
	}
	if len(s.callers) >= maxCallerStmts || strings.Contains(strings.TrimRight(query, " \t\r\n;"), ";") ||
		mayAlterSchema(query) {
		return nil, false, nil
	}
	before := s.nonNeutral.Load()
	st, err := s.wc.PrepareContext(ctx, query)
	if err != nil {
		return nil, false, nil // let the ordinary path report it
	}
	if s.nonNeutral.Load() != before {
		_ = st.Close()
		return nil, false, nil
	}
	if s.callers == nil {
		s.callers = make(map[string]*sql.Stmt)
	}
	s.callers[query] = st
	res, err := st.ExecContext(ctx, args...)
	return res, true, err
}
