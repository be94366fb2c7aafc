package store

import (
	"context"
	"database/sql"
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

// closeOwn closes the cached statements.
func (s *Store) closeOwn() error {
	var first error
	for q, st := range s.own {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
		delete(s.own, q)
	}
	return first
}
