// Package sqldb is the one implementation of store.Store that both
// backends share: the migrations, every rule and the Book transaction,
// written once against a small SQL interface (DB, Q) that
// payserver/store/sqlite implements over database/sql + go-sqlite3 and
// payserver/store/postgres over pgxpool. The dialect differences are the
// fields of Dialect and nothing else.
package sqldb

import (
	"context"
	"errors"
	"strings"
)

// ErrNoRows is what Row.Scan returns when the query matched no row; each
// backend maps its own (sql.ErrNoRows, pgx.ErrNoRows) to it.
var ErrNoRows = errors.New("sqldb: no rows")

// DB runs transactions.
type DB interface {
	// Tx runs f in one transaction and commits when f returns nil;
	// otherwise it rolls back and returns f's error. SQLite takes the
	// write lock at BEGIN (BEGIN IMMEDIATE); PostgreSQL runs at READ
	// COMMITTED and the engine's statements lock the rows they change.
	Tx(ctx context.Context, f func(Q) error) error
	Close() error
}

// Q executes statements inside a transaction. SQL text uses $1, $2 …
// placeholders; a backend rewrites them if its driver needs another form.
type Q interface {
	Exec(ctx context.Context, sql string, args ...any) (rowsAffected int64, err error)
	QueryRow(ctx context.Context, sql string, args ...any) Row
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
}

// Row is one result row; Scan returns ErrNoRows when there is none.
type Row interface{ Scan(dest ...any) error }

// Rows iterates result rows.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Dialect is everything that differs between the backends.
type Dialect struct {
	// Name is "sqlite" or "postgres".
	Name string
	// Types fills the type placeholders of the migrations: "{{blob}}"
	// (BLOB / BYTEA) and "{{serial}}" (an auto-assigned BIGINT primary
	// key: INTEGER PRIMARY KEY AUTOINCREMENT / BIGINT GENERATED ALWAYS AS
	// IDENTITY PRIMARY KEY).
	Types map[string]string
	// LockMigrations is run first in the migration transaction so that
	// two processes opening one database migrate it once ("" when the
	// transaction itself excludes other writers, as BEGIN IMMEDIATE does).
	LockMigrations string
	// Unique reports a unique or primary-key violation.
	Unique func(error) bool
	// Retryable reports a transient conflict worth running the whole
	// transaction again (serialization failure, deadlock, busy).
	Retryable func(error) bool
}

func (d Dialect) expand(sql string) string {
	for k, v := range d.Types {
		sql = strings.ReplaceAll(sql, k, v)
	}
	return sql
}
