package store

import (
	"context"
	"database/sql"
	"fmt"

	"go.uber.org/zap"
)

// Tx is one transaction: a write transaction inside Store.Tx or a
// migration step, a read-only snapshot inside Store.View. Its methods run
// under the context passed to Tx/View. A Tx must not be used after the
// function it was passed to returns.
type Tx struct {
	tx       *sql.Tx
	ctx      context.Context
	s        *Store
	readOnly bool
	dg       *txDigest // write transactions: the digest triggers' state
}

// prepare gets the digest triggers out of the way of a statement that
// may alter the schema (see mayAlterSchema).
func (t *Tx) prepare(query string) error {
	if t.dg == nil || t.dg.trig == nil || !mayAlterSchema(query) {
		return nil
	}
	return t.s.dropTriggers(t.ctx, t.tx, t.dg)
}

// Exec executes a statement (or, without args, a script) in the
// transaction. In a write transaction a single statement that cannot
// alter the schema is prepared once and kept for later commits (at most
// maxCallerStmts of them; see callerExec).
func (t *Tx) Exec(query string, args ...any) (sql.Result, error) {
	if err := t.prepare(query); err != nil {
		return nil, err
	}
	if t.dg != nil && !t.readOnly {
		if res, ok, err := t.s.callerExec(t.ctx, query, args...); ok {
			return res, err
		}
	}
	return t.tx.ExecContext(t.ctx, query, args...)
}

// Query runs a query in the transaction.
func (t *Tx) Query(query string, args ...any) (*sql.Rows, error) {
	if err := t.prepare(query); err != nil {
		return nil, err
	}
	return t.tx.QueryContext(t.ctx, query, args...)
}

// QueryRow runs a query expected to return at most one row. (A failure
// to move the digest triggers out of the way, see Exec, shows as the
// row's error: the query then runs with them in place and fails if they
// are in its way.)
func (t *Tx) QueryRow(query string, args ...any) *sql.Row {
	_ = t.prepare(query)
	return t.tx.QueryRowContext(t.ctx, query, args...)
}

// Context returns the transaction's context.
func (t *Tx) Context() context.Context { return t.ctx }

// ReadOnly reports whether this is a View snapshot.
func (t *Tx) ReadOnly() bool { return t.readOnly }

// Seal seals plaintext for the row (table, identity); see Sealer.Seal.
func (t *Tx) Seal(table string, identity, plaintext []byte) ([]byte, error) {
	return t.s.sealer.Seal(table, identity, plaintext)
}

// Unseal opens a value sealed for the row (table, identity); see
// Sealer.Unseal.
func (t *Tx) Unseal(table string, identity, sealed []byte) ([]byte, error) {
	return t.s.sealer.Unseal(table, identity, sealed)
}

// internalExec runs a statement of the store's own on store_meta.
func (t *Tx) internalExec(query string, args ...any) error {
	return t.s.execInternal(t.ctx, t.tx, query, args...)
}

// Tx runs fn in one write transaction: the unit of a state change
// (docs/architecture.md rule 5). The transaction is committed atomically if fn returns
// nil and rolled back if fn returns an error, panics (the panic then
// continues) or calls runtime.Goexit; a process killed at any instant
// leaves either the old or the new state.
//
// Before fn runs, if another connection has committed to the file since
// the last check (PRAGMA data_version), the whole database is verified
// against the committed state record, so a write never builds on state
// changed outside the store (ErrTampered). Before commit
// the generation is incremented and the state record (generation + digest
// of the whole database) is re-sealed in the same transaction; after commit
// the monotonic counter, if configured, is advanced to the new generation.
// If only that last step fails the change is committed and the error wraps
// ErrCounterLag.
//
// Write transactions are serialised. fn must not call Tx or View of the
// same Store (it would deadlock on the writer).
func (s *Store) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	if fn == nil {
		return invalidf("nil transaction function")
	}
	if ctx == nil {
		return invalidf("nil context")
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	return s.writeLocked(ctx, fn)
}

// writeLocked is Tx with s.wmu held (Open uses it for initialisation and
// migrations).
func (s *Store) writeLocked(ctx context.Context, fn func(tx *Tx) error) error {
	// BEGIN IMMEDIATE (_txlock=immediate). The transaction is not bound to
	// ctx: database/sql would discard the pinned writer connection when a
	// bound context is cancelled. ctx governs each statement instead, and
	// a cancelled ctx rolls the transaction back before commit.
	sqlTx, err := s.wc.BeginTx(context.Background(), nil)
	if err != nil {
		return dbErr("begin", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = sqlTx.Rollback() // error, panic or Goexit: leave the old state
		}
	}()
	// Full verification (a scan of the whole database) only when another
	// connection has committed since the last check; the store's own
	// commits cannot have tampered with it.
	dv, err := s.dataVersion(ctx)
	if err != nil {
		return err
	}
	if dv != s.dataVer {
		if err := s.verifyLocked(ctx, sqlTx); err != nil {
			s.log.Error("database modified outside the store", zap.Error(err))
			return err
		}
		s.dataVer = dv
	}
	dg := &txDigest{trig: s.trig}
	s.schemaChanged.Store(false)
	if err := fn(&Tx{tx: sqlTx, ctx: ctx, s: s, dg: dg}); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	next := stateRecord{gen: s.gen + 1}
	if next.gen == 0 {
		return fmt.Errorf("%w: generation counter exhausted", ErrUnsupported)
	}
	inc, hasSeq, err := s.commitDigest(ctx, sqlTx, dg)
	if err != nil {
		return err
	}
	var seq msetSum
	if hasSeq {
		if seq, err = scanSeq(ctx, sqlTx, s.digKey); err != nil {
			return dbErr("digest", err)
		}
	}
	next.digest = inc.plus(seq).finish(s.digKey)
	sealed, err := s.sealer.Seal(metaTable, stateIdentity, next.marshal())
	if err != nil {
		return err
	}
	if err := s.ownExec(ctx, qStateUpsert, stateKey, sealed); err != nil {
		return dbErr("write state record", err)
	}
	if err := sqlTx.Commit(); err != nil {
		return dbErr("commit", err)
	}
	committed = true
	s.gen, s.digest = next.gen, next.digest
	s.inc, s.hasSeq, s.trig = inc, hasSeq, dg.trig

	if s.counter != nil {
		if err := s.counter.Increment(next.gen); err != nil {
			s.log.Error("monotonic counter not advanced", zap.Uint64("generation", next.gen), zap.Error(err))
			return fmt.Errorf("%w: generation %d: %w", ErrCounterLag, next.gen, err)
		}
	}
	return nil
}

// commitDigest returns the multiset sum (all but sqlite_sequence) of the
// transaction's result: the committed sum plus the digest log when the
// triggers saw every change, otherwise a full scan, after which the
// triggers are re-installed for the current schema (incremental.go).
func (s *Store) commitDigest(ctx context.Context, tx *sql.Tx, dg *txDigest) (msetSum, bool, error) {
	if dg.trig != nil && !dg.full && !s.schemaChanged.Load() {
		inc := s.inc
		if err := s.foldLog(ctx, tx, &inc); err != nil {
			return msetSum{}, false, err
		}
		return inc, s.hasSeq, nil
	}
	if err := s.dropTriggers(ctx, tx, dg); err != nil {
		return msetSum{}, false, err
	}
	s.fullScans.Add(1)
	full, err := scanDigest(ctx, tx, s.digKey)
	if err != nil {
		return msetSum{}, false, dbErr("digest", err)
	}
	if !full.virtual {
		if err := s.installTriggers(ctx, tx, dg, full.tables); err != nil {
			return msetSum{}, false, err
		}
	}
	return full.main, full.hasSeq, nil
}

// View runs fn in a read-only snapshot of the last committed state. Views
// run concurrently with each other and with a write. Statements that would
// write fail (the connection is query_only). The snapshot is not
// re-verified against the state digest (that costs a full scan); values
// that must not be trusted unverified are sealed, and Verify checks the
// whole database on demand.
func (s *Store) View(ctx context.Context, fn func(tx *Tx) error) error {
	if fn == nil {
		return invalidf("nil transaction function")
	}
	if ctx == nil {
		return invalidf("nil context")
	}
	if s.closed.Load() {
		return ErrClosed
	}
	sqlTx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return dbErr("begin", err)
	}
	defer sqlTx.Rollback() //nolint:errcheck // read-only
	return fn(&Tx{tx: sqlTx, ctx: ctx, s: s, readOnly: true})
}
