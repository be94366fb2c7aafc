// Package sqlite is the SQLite backend of payserver/store — the default,
// and what `fpemu demo` uses: one database file through
// github.com/mattn/go-sqlite3 in WAL mode with synchronous=FULL (a
// booking survives a power cut, not just a process kill), foreign keys on,
// a busy timeout, and every transaction BEGIN IMMEDIATE, so writers —
// goroutines of this process (one connection) and other processes on the
// same file (the busy timeout) — take the write lock before they read,
// and a booking never decides on data another writer is changing.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/store/internal/sqldb"
)

// DefaultBusyTimeout is how long a transaction waits for another
// process's write lock before it fails (and the engine runs it again).
const DefaultBusyTimeout = 5 * time.Second

// Open opens (creating it if needed) the database file at path, applies
// the migrations and returns the store. path is a plain file path.
func Open(ctx context.Context, path string, opts store.Options) (store.Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || strings.HasPrefix(path, ":memory:") {
		return nil, fmt.Errorf("%w: sqlite path %q must be a plain file path", store.ErrInvalid, path)
	}
	dsn := "file:" + path + "?_journal_mode=WAL&_synchronous=FULL&_foreign_keys=on&_txlock=immediate&_busy_timeout=" +
		strconv.FormatInt(DefaultBusyTimeout.Milliseconds(), 10)
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	// One connection: this process's transactions queue in database/sql
	// instead of spinning in SQLite's busy handler; other processes meet
	// the busy timeout.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		db.Close()
		return nil, fmt.Errorf("store: sqlite %s: journal_mode %q, want wal: %v", path, mode, err)
	}
	e, err := sqldb.New(ctx, &sqlDB{db: db}, Dialect, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	return e, nil
}

// Dialect is SQLite's side of sqldb.Dialect.
var Dialect = sqldb.Dialect{
	Name: "sqlite",
	Types: map[string]string{
		"{{blob}}":   "BLOB",
		"{{serial}}": "INTEGER PRIMARY KEY AUTOINCREMENT", // never reuses an id, as IDENTITY does not
	},
	Unique: func(err error) bool {
		var se sqlite3.Error
		return errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
	},
	Retryable: func(err error) bool {
		var se sqlite3.Error
		return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
	},
}

// rebind turns $N into ?N, SQLite's numbered parameter (the engine's SQL
// has no '$' elsewhere).
func rebind(q string) string { return strings.ReplaceAll(q, "$", "?") }

type sqlDB struct{ db *sql.DB }

func (d *sqlDB) Close() error { return d.db.Close() }

func (d *sqlDB) Tx(ctx context.Context, f func(sqldb.Q) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(sqlTx{tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

type sqlTx struct{ tx *sql.Tx }

func (t sqlTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	r, err := t.tx.ExecContext(ctx, rebind(q), args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

func (t sqlTx) QueryRow(ctx context.Context, q string, args ...any) sqldb.Row {
	return row{t.tx.QueryRowContext(ctx, rebind(q), args...)}
}

func (t sqlTx) Query(ctx context.Context, q string, args ...any) (sqldb.Rows, error) {
	r, err := t.tx.QueryContext(ctx, rebind(q), args...)
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
}

type row struct{ r *sql.Row }

func (r row) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return sqldb.ErrNoRows
	}
	return err
}

type rows struct{ *sql.Rows }

func (r rows) Close() { _ = r.Rows.Close() }
