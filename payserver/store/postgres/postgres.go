// Package postgres is the PostgreSQL backend of payserver/store, for
// several payment-server processes sharing one database: a
// github.com/jackc/pgx/v5 pgxpool, transactions at READ COMMITTED in
// which the engine's UPDATEs lock the rows they decide on (the challenge,
// then the order, then the key), so two servers booking the same
// statement serialize on the challenge row and exactly one books.
// Migrations take a transaction-scoped advisory lock, so servers starting
// together migrate once.
package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fpemu/fpemu/payserver/store"
	"github.com/fpemu/fpemu/payserver/store/internal/sqldb"
)

// DefaultMaxConns bounds the pool: the connections one server process
// holds on the database.
const DefaultMaxConns = 8

// Config says which database and schema to use.
type Config struct {
	// DSN is a libpq connection string or postgres:// URL. It may carry a
	// password: it is never logged or put in an error.
	DSN string
	// Schema, when set, is the search_path of every connection: the store's
	// tables live there (the tests give each test its own). It must exist.
	Schema string
	// MaxConns bounds the pool (default DefaultMaxConns).
	MaxConns int32
}

// Open connects, applies the migrations and returns the store.
func Open(ctx context.Context, cfg Config, opts store.Options) (store.Store, error) {
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		// pgx's parse errors can quote the DSN; say only that it is bad.
		return nil, fmt.Errorf("%w: postgres DSN does not parse", store.ErrInvalid)
	}
	if cfg.Schema != "" {
		pc.ConnConfig.RuntimeParams["search_path"] = cfg.Schema
	}
	pc.MaxConns = DefaultMaxConns
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("store: postgres pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: postgres connect: %w", err)
	}
	e, err := sqldb.New(ctx, &pgDB{pool: pool}, Dialect, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return e, nil
}

// PostgreSQL error codes (Appendix A, "PostgreSQL Error Codes").
const (
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// Dialect is PostgreSQL's side of sqldb.Dialect.
var Dialect = sqldb.Dialect{
	Name: "postgres",
	Types: map[string]string{
		"{{blob}}":   "BYTEA",
		"{{serial}}": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
	},
	// One lock per schema: stores in other schemas migrate independently.
	LockMigrations: `SELECT pg_advisory_xact_lock(hashtext('fpemu payserver store ' || current_schema()))`,
	Unique:         func(err error) bool { return hasCode(err, codeUniqueViolation) },
	Retryable: func(err error) bool {
		return hasCode(err, codeSerializationFailure) || hasCode(err, codeDeadlockDetected)
	},
}

func hasCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

type pgDB struct{ pool *pgxpool.Pool }

func (d *pgDB) Close() error { d.pool.Close(); return nil }

func (d *pgDB) Tx(ctx context.Context, f func(sqldb.Q) error) error {
	return pgx.BeginTxFunc(ctx, d.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		return f(pgTx{tx})
	})
}

type pgTx struct{ tx pgx.Tx }

func (t pgTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (t pgTx) QueryRow(ctx context.Context, q string, args ...any) sqldb.Row {
	return row{t.tx.QueryRow(ctx, q, args...)}
}

func (t pgTx) Query(ctx context.Context, q string, args ...any) (sqldb.Rows, error) {
	r, err := t.tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return r, nil
}

type row struct{ r pgx.Row }

func (r row) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return sqldb.ErrNoRows
	}
	return err
}
