package store

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// protected opens a ledger store with a file counter in a separate
// directory (the RPMB stand-in), as the launcher lays them out.
type protected struct {
	dbPath, ctrPath string
}

func newProtected(t testing.TB) protected {
	root := t.TempDir()
	for _, d := range []string{"data", "rpmb"} {
		require.NoError(t, os.Mkdir(filepath.Join(root, d), 0o700))
	}
	return protected{
		dbPath:  filepath.Join(root, "data", "ta.db"),
		ctrPath: filepath.Join(root, "rpmb", "ta.ctr"),
	}
}

func (p protected) open(opts ...Option) (*Store, error) {
	c, err := OpenFileCounter(p.ctrPath, testKey())
	if err != nil {
		return nil, err
	}
	return Open(p.dbPath, testKey(), ledgerSchema, append([]Option{WithCounter(c)}, opts...)...)
}

func (p protected) counter(t testing.TB) uint64 {
	c, err := OpenFileCounter(p.ctrPath, testKey())
	require.NoError(t, err)
	defer c.Close()
	v, err := c.Read()
	require.NoError(t, err)
	return v
}

// copyDB copies the database file and whichever of -wal/-shm exist.
func copyDB(t testing.TB, from, to string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(to + suffix)
		src, err := os.Open(from + suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		require.NoError(t, err)
		dst, err := os.OpenFile(to+suffix, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		require.NoError(t, err)
		_, err = io.Copy(dst, src)
		require.NoError(t, err)
		require.NoError(t, src.Close())
		require.NoError(t, dst.Close())
	}
}

func TestRollbackDetected(t *testing.T) {
	p := newProtected(t)
	ctx := context.Background()
	s, err := p.open()
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, appendEntry(ctx, s, int64(i)))
	}
	genN := s.Generation()
	require.Equal(t, genN, p.counter(t), "counter follows every commit")

	// Snapshot while the store is open and the newest commits may still
	// be in the WAL: copy all three files.
	snap := filepath.Join(t.TempDir(), "snap.db")
	copyDB(t, p.dbPath, snap)

	for i := range 2 {
		require.NoError(t, appendEntry(ctx, s, int64(i)))
	}
	require.NoError(t, s.Close())
	require.Equal(t, genN+2, p.counter(t))

	copyDB(t, snap, p.dbPath) // the REE restores the old copy
	_, err = p.open()
	require.ErrorIs(t, err, ErrRollback)
	var re *RollbackError
	require.True(t, errors.As(err, &re))
	require.Equal(t, RollbackError{Generation: genN, Counter: genN + 2}, *re)

	// Without the counter the old copy is self-consistent and opens: the
	// counter is what detects rollback.
	s, err = Open(p.dbPath, testKey(), ledgerSchema)
	require.NoError(t, err)
	require.EqualValues(t, 3, checkLedger(t, s))
	require.NoError(t, s.Close())
}

func TestRollbackCheckpointedCopy(t *testing.T) {
	p := newProtected(t)
	ctx := context.Background()
	s, err := p.open()
	require.NoError(t, err)
	require.NoError(t, appendEntry(ctx, s, 1))
	_, err = s.wc.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	require.NoError(t, err)
	snap := filepath.Join(t.TempDir(), "snap.db")
	copyDB(t, p.dbPath, snap)
	require.NoError(t, appendEntry(ctx, s, 2))
	require.NoError(t, s.Close())

	// The snapshot is the checkpointed main file alone (no WAL): restoring
	// it is a rollback too.
	_, err = os.Stat(snap + "-wal")
	require.True(t, err != nil || fileSize(t, snap+"-wal") == 0, "snapshot WAL is empty after TRUNCATE")
	copyDB(t, snap, p.dbPath)
	_, err = p.open()
	require.ErrorIs(t, err, ErrRollback)
}

func fileSize(t testing.TB, path string) int64 {
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}

func TestRollbackToEmpty(t *testing.T) {
	p := newProtected(t)
	s, err := p.open()
	require.NoError(t, err)
	require.NoError(t, appendEntry(context.Background(), s, 1))
	require.NoError(t, s.Close())
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(p.dbPath + suffix)
	}
	_, err = p.open()
	require.ErrorIs(t, err, ErrRollback, "a deleted database is a rollback to nothing")
}

// TestRollbackSplicedState copies the newest state record into the older
// copy: the generation would pass, the digest does not.
func TestRollbackSplicedState(t *testing.T) {
	p := newProtected(t)
	ctx := context.Background()
	s, err := p.open()
	require.NoError(t, err)
	require.NoError(t, appendEntry(ctx, s, 1))
	require.NoError(t, s.Close())
	snap := filepath.Join(t.TempDir(), "snap.db")
	copyDB(t, p.dbPath, snap)

	s, err = p.open()
	require.NoError(t, err)
	require.NoError(t, appendEntry(ctx, s, 2))
	require.NoError(t, s.Close())
	var newest []byte
	require.NoError(t, rawDB(t, p.dbPath).QueryRow(`SELECT value FROM store_meta WHERE key = 'state'`).Scan(&newest))

	copyDB(t, snap, p.dbPath)
	_, err = rawDB(t, p.dbPath).Exec(`UPDATE store_meta SET value = ? WHERE key = 'state'`, newest)
	require.NoError(t, err)
	_, err = p.open()
	require.ErrorIs(t, err, ErrTampered)
}

// failingCounter fails Increment while fail is set: a crash between the
// database commit and the counter write.
type failingCounter struct {
	MonotonicCounter
	fail bool
}

func (c *failingCounter) Increment(to uint64) error {
	if c.fail {
		return errors.New("rpmb write interrupted")
	}
	return c.MonotonicCounter.Increment(to)
}

func TestCounterCatchesUp(t *testing.T) {
	p := newProtected(t)
	ctx := context.Background()
	fc, err := OpenFileCounter(p.ctrPath, testKey())
	require.NoError(t, err)
	c := &failingCounter{MonotonicCounter: fc}
	s, err := Open(p.dbPath, testKey(), ledgerSchema, WithCounter(c))
	require.NoError(t, err)
	require.NoError(t, appendEntry(ctx, s, 1))

	c.fail = true
	err = appendEntry(ctx, s, 2)
	require.ErrorIs(t, err, ErrCounterLag)
	require.EqualValues(t, 2, checkLedger(t, s), "the change itself is committed")
	require.Equal(t, s.Generation()-1, p.counter(t), "counter one behind")
	require.NoError(t, s.Close())

	s, err = p.open()
	require.NoError(t, err, "database ahead of the counter is fine")
	require.Equal(t, s.Generation(), p.counter(t), "and the counter caught up")
	require.EqualValues(t, 2, checkLedger(t, s))
	require.NoError(t, s.Close())
}

func TestCounterTamperedAtOpen(t *testing.T) {
	p := newProtected(t)
	s, err := p.open()
	require.NoError(t, err)
	require.NoError(t, s.Close())
	b, err := os.ReadFile(p.ctrPath)
	require.NoError(t, err)
	// Lower the value in both slots; the MACs no longer match. (One
	// invalid slot alone is tolerated: see TestFileCounterTornSlot.)
	b[13] = 0
	b[counterSlotStride+13] = 0
	require.NoError(t, os.WriteFile(p.ctrPath, b, 0o600))
	_, err = p.open()
	require.ErrorIs(t, err, ErrCounterTampered)
}
