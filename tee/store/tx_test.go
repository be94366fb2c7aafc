package store

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTxRollbackOnError(t *testing.T) {
	s := openTest(t, dbPath(t), ledgerSchema)
	ctx := context.Background()
	require.NoError(t, appendEntry(ctx, s, 1))
	gen := s.Generation()

	boom := errors.New("boom")
	err := s.Tx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(`INSERT INTO ledger(seq, amount, sealed) VALUES (2, 9, x'00')`)
		require.NoError(t, err)
		_, err = tx.Exec(`UPDATE balance SET n = 2, total = 10`)
		require.NoError(t, err)
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.Equal(t, gen, s.Generation(), "no generation bump")
	require.EqualValues(t, 1, checkLedger(t, s), "neither write is visible")
	require.NoError(t, s.Verify(ctx))
	require.NoError(t, appendEntry(ctx, s, 2), "the store stays usable")
	require.EqualValues(t, 2, checkLedger(t, s))
}

func TestTxRollbackOnSQLError(t *testing.T) {
	s := openTest(t, dbPath(t), ledgerSchema)
	ctx := context.Background()
	require.NoError(t, appendEntry(ctx, s, 1))
	err := s.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(`INSERT INTO ledger(seq, amount, sealed) VALUES (2, 9, x'00')`); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO balance(id, n, total, sealed) VALUES (2, 0, 0, x'00')`) // CHECK fails
		return err
	})
	require.Error(t, err)
	require.EqualValues(t, 1, checkLedger(t, s))
}

func TestTxRollbackOnPanic(t *testing.T) {
	s := openTest(t, dbPath(t), ledgerSchema)
	ctx := context.Background()
	require.NoError(t, appendEntry(ctx, s, 1))
	gen := s.Generation()

	type sentinel struct{}
	func() {
		defer func() {
			r := recover()
			require.Equal(t, sentinel{}, r, "the panic continues with its own value")
		}()
		_ = s.Tx(ctx, func(tx *Tx) error {
			_, err := tx.Exec(`INSERT INTO ledger(seq, amount, sealed) VALUES (2, 9, x'00')`)
			require.NoError(t, err)
			panic(sentinel{})
		})
		t.Fatal("Tx returned after a panic")
	}()
	require.Equal(t, gen, s.Generation())
	require.EqualValues(t, 1, checkLedger(t, s))
	require.NoError(t, appendEntry(ctx, s, 2), "writer lock released, connection usable")
	require.EqualValues(t, 2, checkLedger(t, s))
}

func TestTxGoexitRollsBack(t *testing.T) {
	s := openTest(t, dbPath(t), ledgerSchema)
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Tx(ctx, func(tx *Tx) error {
			_, _ = tx.Exec(`INSERT INTO ledger(seq, amount, sealed) VALUES (1, 9, x'00')`)
			runtime.Goexit() // as t.FailNow inside fn would
			return nil
		})
	}()
	<-done
	require.EqualValues(t, 0, checkLedger(t, s))
	require.NoError(t, appendEntry(ctx, s, 1))
}

func TestTxContextCancelled(t *testing.T) {
	s := openTest(t, dbPath(t), ledgerSchema)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := appendEntry(ctx, s, 1)
	require.ErrorIs(t, err, context.Canceled)
	require.EqualValues(t, 0, checkLedger(t, s))
	require.NoError(t, appendEntry(context.Background(), s, 1))

	// Cancelled while fn runs: nothing is committed, the store stays usable.
	ctx, cancel = context.WithCancel(context.Background())
	err = s.Tx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(`DELETE FROM ledger`)
		require.NoError(t, err)
		cancel()
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	require.EqualValues(t, 1, checkLedger(t, s))
	require.NoError(t, appendEntry(context.Background(), s, 1))
	require.EqualValues(t, 2, checkLedger(t, s))
}

// TestConcurrentReadersWriters runs writers and readers at once (run with
// -race): every snapshot a reader sees satisfies the ledger invariant, and
// no write is lost.
func TestConcurrentReadersWriters(t *testing.T) {
	s := openTest(t, dbPath(t), ledgerSchema, WithCounter(NewMemCounter(0)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const writers, perWriter, readers = 4, 25, 4
	var wg sync.WaitGroup
	var stop atomic.Bool
	var snapshots atomic.Int64
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				checkLedger(t, s)
				snapshots.Add(1)
			}
		}()
	}
	var ww sync.WaitGroup
	for w := range writers {
		ww.Add(1)
		go func() {
			defer ww.Done()
			for i := range perWriter {
				assert.NoError(t, appendEntry(ctx, s, int64(w+i)%7))
			}
		}()
	}
	ww.Wait()
	stop.Store(true)
	wg.Wait()
	require.EqualValues(t, writers*perWriter, checkLedger(t, s))
	require.EqualValues(t, 3+writers*perWriter, s.Generation())
	require.Positive(t, snapshots.Load())
	require.NoError(t, s.Verify(ctx))
}
