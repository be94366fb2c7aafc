package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the package returns wraps one of them (or a
// database/sql or SQLite error from the caller's own statements), so callers
// branch with errors.Is. No error string ever carries key material,
// plaintext or sealed bytes.
var (
	// ErrInvalidArgument reports a bad argument (empty table, empty or
	// oversized identity, short storage key, malformed schema, nil func).
	// It is returned before the database is touched.
	ErrInvalidArgument = errors.New("store: invalid argument")

	// ErrMalformed reports a sealed blob that cannot be a blob of this
	// format: too short, too long or an unknown format version.
	ErrMalformed = errors.New("store: malformed sealed blob")

	// ErrSealedCorrupt reports a sealed blob that does not open: a flipped
	// byte, another row's blob (identity mismatch), another table's blob, or
	// a different storage key. AEAD authentication cannot tell these apart,
	// so they share one sentinel.
	ErrSealedCorrupt = errors.New("store: sealed blob does not open (tampered, moved to another row or table, or wrong key)")

	// ErrTampered reports that the database as a whole does not match the
	// sealed state record: a row, column or schema entry was changed outside
	// the store, the meta table is missing, or sealed state rows were
	// spliced in from another copy.
	ErrTampered = errors.New("store: database modified outside the store")

	// ErrRollback reports a database older than the monotonic counter says
	// it must be: an older copy of the file was restored (OP-TEE's
	// rollback detection of REE FS secure storage against RPMB).
	ErrRollback = errors.New("store: database rolled back (generation behind the monotonic counter)")

	// ErrSchemaTooNew reports a database whose schema version is newer than
	// the code knows. The store never downgrades.
	ErrSchemaTooNew = errors.New("store: database schema newer than this code")

	// ErrSchemaMismatch reports an applied migration whose recorded name
	// differs from the code's step at the same index (an edited or
	// reordered migration).
	ErrSchemaMismatch = errors.New("store: applied migration differs from the code's schema")

	// ErrMigration reports a migration step that failed; the step was rolled
	// back and the database stays at the previous version.
	ErrMigration = errors.New("store: migration failed")

	// ErrCounterTampered reports a monotonic-counter file that is not a
	// well-formed record authenticated by this TA's counter key.
	ErrCounterTampered = errors.New("store: monotonic counter record tampered or malformed")

	// ErrCounterBackwards reports an attempt to move a monotonic counter
	// backwards.
	ErrCounterBackwards = errors.New("store: monotonic counter cannot go backwards")

	// ErrCounterLag reports a write transaction that committed but whose
	// generation could not be written to the monotonic counter. The state
	// change IS durable; the counter catches up on the next write or Open.
	ErrCounterLag = errors.New("store: committed, but the monotonic counter was not advanced")

	// ErrClosed reports use of a closed Store.
	ErrClosed = errors.New("store: closed")

	// ErrUnsupported reports a database that fpemu's store cannot run on
	// (e.g. SQLite refused WAL journal mode).
	ErrUnsupported = errors.New("store: unsupported database configuration")
)

// RollbackError details ErrRollback.
type RollbackError struct {
	// Generation is the generation recorded (sealed) in the database.
	Generation uint64
	// Counter is the value of the monotonic counter.
	Counter uint64
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("%v: database generation %d, counter %d", ErrRollback, e.Generation, e.Counter)
}

// Unwrap makes errors.Is(err, ErrRollback) true.
func (e *RollbackError) Unwrap() error { return ErrRollback }

// SchemaVersionError details ErrSchemaTooNew.
type SchemaVersionError struct {
	// Database is the schema version recorded in the database.
	Database int
	// Code is the number of migration steps the code knows.
	Code int
}

func (e *SchemaVersionError) Error() string {
	return fmt.Sprintf("%v: database at version %d, code knows %d", ErrSchemaTooNew, e.Database, e.Code)
}

// Unwrap makes errors.Is(err, ErrSchemaTooNew) true.
func (e *SchemaVersionError) Unwrap() error { return ErrSchemaTooNew }

// MigrationError details ErrMigration: which step failed and why.
type MigrationError struct {
	// Step is the 0-based index of the failed step; the database stays at
	// schema version Step.
	Step int
	// Name is the step's name.
	Name string
	// Err is the underlying failure.
	Err error
}

func (e *MigrationError) Error() string {
	return fmt.Sprintf("%v: step %d (%s): %v", ErrMigration, e.Step, e.Name, e.Err)
}

// Unwrap returns both ErrMigration and the cause, so errors.Is matches
// either.
func (e *MigrationError) Unwrap() []error { return []error{ErrMigration, e.Err} }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
}
