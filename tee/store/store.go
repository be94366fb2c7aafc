package store

import (
	"context"
	"crypto/hmac"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
	"go.uber.org/zap"
)

// Store is one TA's sealed SQLite database. It is safe for concurrent use:
// write transactions (Tx) are serialised, read transactions (View) run
// concurrently on their own connections and see the last committed state.
type Store struct {
	path    string
	w, r    *sql.DB   // writer pool (1 conn, BEGIN IMMEDIATE) and readers (query_only)
	wc      *sql.Conn // the writer connection, pinned for the Store's life
	sealer  *Sealer
	digKey  []byte
	counter MonotonicCounter
	log     *zap.Logger

	// internal is set while the store itself writes store_meta; the writer
	// connection's authorizer refuses caller statements on store_meta.
	internal atomic.Bool

	closed atomic.Bool

	// schemaChanged is set by the writer's authorizer when a caller's
	// statement may change the schema (incremental.go); the commit then
	// digests the database in full.
	schemaChanged atomic.Bool
	// nonNeutral counts the authorizations that set schemaChanged (a
	// statement whose preparation moves it is not kept, stmt.go).
	nonNeutral atomic.Int64

	durability Durability
	fullScans  atomic.Int64 // commits digested by a full scan (for tests)

	rhMu   sync.Mutex // guards the row hasher of store_row_hash
	rh     *rowHasher
	rhVals [][]byte

	wmu     sync.Mutex           // serialises writes; guards the fields below
	gen     uint64               // committed generation (0: no state record yet)
	digest  [32]byte             // committed state digest
	version int                  // applied schema version
	dataVer int64                // PRAGMA data_version of wc when last verified
	inc     msetSum              // committed multiset sum of all but sqlite_sequence
	hasSeq  bool                 // sqlite_sequence exists (re-read at each commit)
	trig    []string             // installed digest triggers (nil: next commit scans in full)
	own     map[string]*sql.Stmt // the store's own prepared statements (stmt.go)
	callers map[string]*sql.Stmt // callers' kept Exec statements (stmt.go)
}

// Durability says what a committed transaction survives (docs/protocol.md
// §6.1). Both modes run SQLite in WAL mode, whose commit is atomic.
type Durability int

const (
	// DurabilityPower (the library's default: a caller that does not
	// choose gets the stronger guarantee): a commit also survives a power
	// loss or OS crash (synchronous=FULL: the WAL is fsynced at every
	// commit, before the rollback counter advances), at the price of one
	// fsync per commit.
	DurabilityPower Durability = iota
	// DurabilityProcess (the device default, `fpemu device up
	// --durability process`): a commit survives the TA process
	// being killed at any instant (kill -9) — it is in the WAL, in the OS
	// page cache — but not necessarily a power loss or OS crash
	// (synchronous=NORMAL: the WAL is fsynced at checkpoints, not at each
	// commit). After a power loss the last commits may be gone while the
	// rollback counter has advanced past them; Open then reports
	// ErrRollback — the store fails closed, as it cannot tell that from a
	// restored old copy.
	DurabilityProcess
)

// String returns "process" or "power".
func (d Durability) String() string {
	switch d {
	case DurabilityProcess:
		return "process"
	case DurabilityPower:
		return "power"
	}
	return "Durability(" + strconv.Itoa(int(d)) + ")"
}

// ParseDurability parses "process" or "power" (the --durability flag).
func ParseDurability(s string) (Durability, error) {
	switch s {
	case "process":
		return DurabilityProcess, nil
	case "power":
		return DurabilityPower, nil
	}
	return 0, invalidf("durability %q: want process or power", s)
}

// synchronous is the PRAGMA synchronous value of d (1 NORMAL, 2 FULL).
func (d Durability) synchronous() (string, int) {
	if d == DurabilityPower {
		return "FULL", 2
	}
	return "NORMAL", 1
}

// Option configures Open.
type Option func(*options)

type options struct {
	counter     MonotonicCounter
	log         *zap.Logger
	busyTimeout time.Duration
	readers     int
	durability  Durability
}

// WithCounter enables rollback protection against c (see the package doc).
// If c is an io.Closer (FileCounter is), Store.Close — or an Open that
// fails after opening the database — closes it.
// Without it the store still detects offline edits (ErrTampered) but not
// the restoration of an older, self-consistent copy.
func WithCounter(c MonotonicCounter) Option { return func(o *options) { o.counter = c } }

// WithLogger sets the logger (a child named "store" is used). The store
// logs paths, versions and generations, never keys or row contents.
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithBusyTimeout sets how long a statement waits for a lock held by
// another connection before failing with SQLITE_BUSY (default 5 s).
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// WithDurability sets what a commit survives (default DurabilityPower).
func WithDurability(d Durability) Option { return func(o *options) { o.durability = d } }

// WithMaxReaders sets the number of concurrent read connections (default 4).
func WithMaxReaders(n int) Option { return func(o *options) { o.readers = n } }

// Open opens (creating if needed) the database at path for the TA whose
// storage key is storageKey, verifies it, checks it against the monotonic
// counter if one is configured, and applies the pending steps of schema.
//
// Arguments are validated before the file is touched. The file is created
// with mode 0600 in an existing directory.
//
// Errors: ErrInvalidArgument; ErrSealedCorrupt (also ErrTampered) when the
// state record does not open — the wrong storage key, or an edited record;
// ErrTampered when the content does not match the state digest;
// *RollbackError (ErrRollback); *SchemaVersionError (ErrSchemaTooNew);
// ErrSchemaMismatch; *MigrationError (ErrMigration); ErrCounterTampered.
func Open(path string, storageKey []byte, schema Schema, opts ...Option) (*Store, error) {
	o := options{busyTimeout: 5 * time.Second, readers: 4}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	switch {
	case path == "":
		return nil, invalidf("empty database path")
	case strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || strings.HasPrefix(path, ":memory:"):
		return nil, invalidf("database path must be a plain file path (no '?', '#', file: or :memory:)")
	case o.busyTimeout <= 0:
		return nil, invalidf("busy timeout must be positive")
	case o.readers < 1:
		return nil, invalidf("need at least one reader connection")
	case o.durability != DurabilityProcess && o.durability != DurabilityPower:
		return nil, invalidf("unknown durability %d", int(o.durability))
	}
	if err := schema.validate(); err != nil {
		return nil, err
	}
	sealer, err := NewSealer(storageKey)
	if err != nil {
		return nil, err
	}
	digKey, err := deriveKey(storageKey, labelDigestKey, digestKeySize)
	if err != nil {
		return nil, err
	}
	if o.log == nil {
		o.log = zap.NewNop()
	}
	if err := ensureFile(path); err != nil {
		return nil, err
	}

	s := &Store{
		path:    path,
		sealer:  sealer,
		digKey:  digKey,
		counter: o.counter,
		log:     o.log.Named("store").With(zap.String("db", path)),

		durability: o.durability,
		rh:         newRowHasher(digKey),
	}
	busy := strconv.FormatInt(o.busyTimeout.Milliseconds(), 10)
	// synchronous per Durability: in WAL mode NORMAL already survives a
	// process kill (the commit is in the OS page cache), but a power loss
	// or OS crash could drop the last commits while the monotonic counter —
	// written after the commit — has advanced, and the store would then
	// refuse its own database as rolled back. FULL fsyncs the WAL at every
	// commit, so the counter never runs ahead of durable state.
	// recursive_triggers: see incremental.go (REPLACE deletions must fire
	// the digest triggers).
	syncName, _ := s.durability.synchronous()
	s.w = sql.OpenDB(&connector{
		dsn: path + "?_journal_mode=WAL&_synchronous=" + syncName + "&_foreign_keys=on&_recursive_triggers=on&_busy_timeout=" +
			busy + "&_txlock=immediate",
		drv: &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
			if err := s.registerRowHash(c); err != nil {
				return err
			}
			if _, err := c.Exec("PRAGMA temp_store = MEMORY", nil); err != nil {
				return err
			}
			c.RegisterAuthorizer(s.authorize)
			return nil
		}},
	})
	s.w.SetMaxOpenConns(1)
	wc, err := s.w.Conn(context.Background())
	if err != nil {
		s.w.Close()
		return nil, dbErr("open", err)
	}
	s.wc = wc
	if err := s.checkPragmas(); err != nil {
		s.wc.Close()
		s.w.Close()
		return nil, err
	}
	s.r = sql.OpenDB(&connector{
		dsn: path + "?_query_only=on&_synchronous=" + syncName + "&_foreign_keys=on&_busy_timeout=" + busy + "&_txlock=deferred",
		drv: &sqlite3.SQLiteDriver{},
	})
	s.r.SetMaxOpenConns(o.readers)
	s.r.SetMaxIdleConns(o.readers)

	ctx := context.Background()
	if err := s.load(ctx, schema); err != nil {
		_ = s.closeAll()
		return nil, err
	}
	if err := s.migrate(ctx, schema); err != nil {
		_ = s.closeAll()
		return nil, err
	}
	s.log.Info("store opened",
		zap.Int("schema_version", s.version),
		zap.Uint64("generation", s.gen),
		zap.Bool("rollback_protected", s.counter != nil))
	return s, nil
}

// connector opens go-sqlite3 connections through a per-pool driver value,
// so the writer pool can carry its own ConnectHook.
type connector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

func (c *connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c *connector) Driver() driver.Driver                        { return c.drv }

func ensureFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		return f.Close()
	case errors.Is(err, fs.ErrExist):
		return nil
	default:
		return fmt.Errorf("store: create database file: %w", err)
	}
}

func (s *Store) checkPragmas() error {
	ctx := context.Background()
	var mode string
	if err := s.wc.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return dbErr("open", err)
	}
	var syncMode, fk, rt int
	if err := s.wc.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syncMode); err != nil {
		return dbErr("open", err)
	}
	if err := s.wc.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return dbErr("open", err)
	}
	if err := s.wc.QueryRowContext(ctx, "PRAGMA recursive_triggers").Scan(&rt); err != nil {
		return dbErr("open", err)
	}
	_, wantSync := s.durability.synchronous()
	if !strings.EqualFold(mode, "wal") || syncMode != wantSync || fk != 1 || rt != 1 {
		return fmt.Errorf("%w: journal_mode=%s synchronous=%d foreign_keys=%d recursive_triggers=%d",
			ErrUnsupported, mode, syncMode, fk, rt)
	}
	return nil
}

// dbErr wraps an SQLite error; a file that is not (or no longer) a valid
// database is reported as ErrTampered.
func dbErr(op string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrNotADB || se.Code == sqlite3.ErrCorrupt) {
		return fmt.Errorf("%w: %s: %w", ErrTampered, op, err)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// authorize is the writer connection's SQLite authorizer
// (sqlite3_set_authorizer): caller statements may not modify or drop
// store_meta, hang triggers on it, change the pragmas the store's
// guarantees rest on, or edit or drop the digest log and triggers (the
// trigger bodies' INSERTs into the log are authorized as part of the
// caller's statement, so INSERT into it stays allowed). Any action that
// may change the schema marks the transaction for a full digest
// (incremental.go).
func (s *Store) authorize(op int, a1, a2, _ string) int {
	if s.internal.Load() {
		return sqlite3.SQLITE_OK
	}
	if !digestNeutral(op) {
		s.schemaChanged.Store(true)
		s.nonNeutral.Add(1)
	}
	isMeta := func(name string) bool { return strings.EqualFold(name, metaTable) }
	switch op {
	case sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE, sqlite3.SQLITE_DROP_TABLE:
		if isMeta(a1) {
			return sqlite3.SQLITE_DENY
		}
		if op != sqlite3.SQLITE_INSERT && strings.EqualFold(a1, digestLog) {
			return sqlite3.SQLITE_DENY
		}
	case sqlite3.SQLITE_DROP_TEMP_TABLE, sqlite3.SQLITE_CREATE_TEMP_TABLE:
		if strings.EqualFold(a1, digestLog) {
			return sqlite3.SQLITE_DENY
		}
	case sqlite3.SQLITE_DROP_TEMP_TRIGGER:
		if isDigestTrigger(a1) {
			return sqlite3.SQLITE_DENY
		}
	case sqlite3.SQLITE_ALTER_TABLE, sqlite3.SQLITE_CREATE_TRIGGER, sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
		sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_DROP_INDEX:
		if isMeta(a2) || (op == sqlite3.SQLITE_CREATE_TEMP_TRIGGER && isDigestTrigger(a1)) {
			return sqlite3.SQLITE_DENY
		}
	case sqlite3.SQLITE_PRAGMA:
		switch strings.ToLower(a1) {
		case "journal_mode", "synchronous", "foreign_keys", "writable_schema", "query_only", "locking_mode",
			"recursive_triggers", "temp_store":
			if a2 != "" {
				return sqlite3.SQLITE_DENY
			}
		}
	}
	return sqlite3.SQLITE_OK
}

// load reads and verifies the state record, checks the monotonic counter
// and the recorded schema, and initialises a fresh database.
func (s *Store) load(ctx context.Context, schema Schema) error {
	tx, err := s.wc.BeginTx(context.Background(), nil) // see writeLocked
	if err != nil {
		return dbErr("begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // only TEMP objects to keep
	st, full, fresh, err := s.readState(ctx, tx)
	if err != nil {
		return err
	}
	version := 0
	var names []string
	d := &txDigest{}
	if !fresh {
		if version, names, err = readSchema(ctx, tx); err != nil {
			return err
		}
		if !full.virtual {
			if err := s.installTriggers(ctx, tx, d, full.tables); err != nil {
				return err
			}
		}
	}
	// The transaction wrote nothing to the file; committing keeps the
	// TEMP digest triggers.
	if err := tx.Commit(); err != nil {
		return dbErr("commit", err)
	}
	if !fresh {
		s.inc, s.hasSeq, s.trig = full.main, full.hasSeq, d.trig
	}

	if s.counter != nil {
		c, err := s.counter.Read()
		if err != nil {
			return err
		}
		switch {
		case st.gen < c:
			s.log.Warn("rollback detected", zap.Uint64("generation", st.gen), zap.Uint64("counter", c))
			return &RollbackError{Generation: st.gen, Counter: c}
		case st.gen > c:
			// A crash between a commit and its counter write (or an
			// earlier ErrCounterLag): the database is ahead, never behind.
			s.log.Info("monotonic counter catching up", zap.Uint64("generation", st.gen), zap.Uint64("counter", c))
			if err := s.counter.Increment(st.gen); err != nil {
				return err
			}
		}
	}
	if version > len(schema) {
		return &SchemaVersionError{Database: version, Code: len(schema)}
	}
	for i, n := range names {
		if n != schema[i].Name {
			return fmt.Errorf("%w: step %d applied as %q, code has %q", ErrSchemaMismatch, i, n, schema[i].Name)
		}
	}
	s.gen, s.digest, s.version = st.gen, st.digest, version
	if s.dataVer, err = s.dataVersion(ctx); err != nil {
		return err
	}
	if fresh {
		return s.writeLocked(ctx, func(tx *Tx) error {
			return tx.internalExec(`CREATE TABLE ` + metaTable + ` (key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
				INSERT INTO ` + metaTable + `(key, value) VALUES ('format', 1), ('schema_version', 0);`)
		})
	}
	return nil
}

// readState returns the verified state record and the full scan it was
// verified with, or fresh=true for a database that has never been
// initialised (no tables at all).
func (s *Store) readState(ctx context.Context, tx *sql.Tx) (st stateRecord, full *fullDigest, fresh bool, err error) {
	var nMeta, nAll int
	if err := tx.QueryRowContext(ctx,
		`SELECT count(*) FILTER (WHERE type = 'table' AND name = ?), count(*) FROM sqlite_schema`,
		metaTable).Scan(&nMeta, &nAll); err != nil {
		return st, nil, false, dbErr("read schema", err)
	}
	if nMeta == 0 {
		if nAll == 0 {
			return st, nil, true, nil
		}
		return st, nil, false, fmt.Errorf("%w: tables present but no %s", ErrTampered, metaTable)
	}
	var blob []byte
	err = tx.QueryRowContext(ctx, `SELECT value FROM `+metaTable+` WHERE key = ?`, stateKey).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil, false, fmt.Errorf("%w: no state record", ErrTampered)
	}
	if err != nil {
		return st, nil, false, fmt.Errorf("%w: state record: %w", ErrTampered, err)
	}
	pt, err := s.sealer.Unseal(metaTable, stateIdentity, blob)
	if err != nil {
		return st, nil, false, fmt.Errorf("%w: state record (wrong storage key, or edited): %w", ErrTampered, err)
	}
	if st, err = parseStateRecord(pt); err != nil {
		return st, nil, false, err
	}
	if full, err = scanDigest(ctx, tx, s.digKey); err != nil {
		return st, nil, false, dbErr("digest", err)
	}
	if d := full.digest(s.digKey); !hmac.Equal(d[:], st.digest[:]) {
		return st, nil, false, fmt.Errorf("%w: content does not match the state digest", ErrTampered)
	}
	return st, full, false, nil
}

func readSchema(ctx context.Context, tx *sql.Tx) (int, []string, error) {
	var version int64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM `+metaTable+` WHERE key = 'schema_version'`).
		Scan(&version); err != nil {
		return 0, nil, fmt.Errorf("%w: schema_version: %w", ErrTampered, err)
	}
	if version < 0 || version > 1<<20 {
		return 0, nil, fmt.Errorf("%w: schema_version %d", ErrTampered, version)
	}
	names := make([]string, version)
	for i := range names {
		if err := tx.QueryRowContext(ctx, `SELECT value FROM `+metaTable+` WHERE key = ?`, migrationKey(i)).
			Scan(&names[i]); err != nil {
			return 0, nil, fmt.Errorf("%w: %s: %w", ErrTampered, migrationKey(i), err)
		}
	}
	return int(version), names, nil
}

// migrate applies the pending steps, one write transaction each.
func (s *Store) migrate(ctx context.Context, schema Schema) error {
	for i := s.version; i < len(schema); i++ {
		m := schema[i]
		err := s.writeLocked(ctx, func(tx *Tx) error {
			// A step may change any table's columns: the digest
			// triggers must not be in its way (incremental.go).
			if err := s.dropTriggers(ctx, tx.tx, tx.dg); err != nil {
				return err
			}
			var err error
			if m.SQL != "" {
				_, err = tx.Exec(m.SQL)
			} else {
				err = m.Func(tx)
			}
			if err != nil {
				return &MigrationError{Step: i, Name: m.Name, Err: err}
			}
			return tx.internalExec(`INSERT INTO `+metaTable+`(key, value) VALUES (?, ?), ('schema_version', ?)
				ON CONFLICT(key) DO UPDATE SET value = excluded.value`, migrationKey(i), m.Name, i+1)
		})
		if err != nil {
			return err
		}
		s.version = i + 1
		s.log.Info("migration applied", zap.Int("step", i), zap.String("name", m.Name), zap.Uint64("generation", s.gen))
	}
	return nil
}

// Close closes the database (and the counter, if it is an io.Closer),
// waiting for a write in progress to finish.
// It is idempotent.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	return s.closeAll()
}

// closeAll closes the databases and the counter, if it is an io.Closer.
func (s *Store) closeAll() error {
	err := s.closeDBs()
	if c, ok := s.counter.(io.Closer); ok {
		err = errors.Join(err, c.Close())
	}
	return err
}

func (s *Store) closeDBs() error {
	var errs []error
	errs = append(errs, s.closeOwn())
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.wc.Close(), s.w.Close())
	return errors.Join(errs...)
}

// Path returns the database file path.
func (s *Store) Path() string { return s.path }

// Generation returns the committed generation: the number of write
// transactions (migrations and initialisation included) ever committed.
func (s *Store) Generation() uint64 {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.gen
}

// Version returns the applied schema version.
func (s *Store) Version() int {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.version
}

// Seal seals plaintext for the row (table, identity); see Sealer.Seal.
func (s *Store) Seal(table string, identity, plaintext []byte) ([]byte, error) {
	return s.sealer.Seal(table, identity, plaintext)
}

// Unseal opens a value sealed for the row (table, identity); see
// Sealer.Unseal.
func (s *Store) Unseal(table string, identity, sealed []byte) ([]byte, error) {
	return s.sealer.Unseal(table, identity, sealed)
}

// Verify re-checks the whole database against the committed state record:
// the record opens, names the generation this Store committed last, and
// the content matches its digest. Every write transaction does this first;
// Verify lets a TA do it before a security-relevant read of plain columns.
func (s *Store) Verify(ctx context.Context) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	tx, err := s.wc.BeginTx(context.Background(), nil) // see writeLocked
	if err != nil {
		return dbErr("begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	return s.verifyLocked(ctx, tx)
}

// dataVersion returns PRAGMA data_version of the writer connection: it
// changes exactly when another connection (another process, or the REE's
// sqlite3) has committed to the file since the previous call
// (https://sqlite.org/pragma.html#pragma_data_version); the store's own
// commits on this connection leave it unchanged.
// s.wmu is held.
func (s *Store) dataVersion(ctx context.Context) (int64, error) {
	rows, err := s.ownQuery(ctx, qDataVersion)
	if err != nil {
		return 0, dbErr("data_version", err)
	}
	defer rows.Close()
	var v int64
	if !rows.Next() {
		return 0, dbErr("data_version", errors.Join(sql.ErrNoRows, rows.Err()))
	}
	if err := rows.Scan(&v); err != nil {
		return 0, dbErr("data_version", err)
	}
	if err := rows.Close(); err != nil {
		return 0, dbErr("data_version", err)
	}
	return v, nil
}

func (s *Store) verifyLocked(ctx context.Context, tx *sql.Tx) error {
	st, full, fresh, err := s.readState(ctx, tx)
	if err != nil {
		return err
	}
	if fresh != (s.gen == 0) || st.gen != s.gen || st.digest != s.digest {
		return fmt.Errorf("%w: state record is not the one this store committed (generation %d, expected %d)",
			ErrTampered, st.gen, s.gen)
	}
	if full != nil {
		// The file matches the committed digest: restart the incremental
		// sum from the scan.
		s.inc, s.hasSeq = full.main, full.hasSeq
	}
	return nil
}
