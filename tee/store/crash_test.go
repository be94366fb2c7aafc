package store

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
)

// The crash test re-executes the test binary as a child (TestMain switches
// on crashChildEnv) that writes in a loop, kills it with SIGKILL at random
// instants, and checks after each kill that the database opens — no
// ErrTampered, no ErrRollback — and that every row is whole and the
// cross-table invariant holds.
const (
	crashChildEnv = "FPEMU_STORE_CRASH_CHILD" // "1" in the child
	crashDBEnv    = "FPEMU_STORE_CRASH_DB"    // database path (not secret)
	crashCtrEnv   = "FPEMU_STORE_CRASH_CTR"   // counter path (not secret)
	crashDurEnv   = "FPEMU_STORE_CRASH_DUR"   // durability: process or power
	crashBulkSize = 4096
)

// crashSchema is ledgerSchema plus a table of larger sealed rows, so that a
// transaction spans several pages and a kill can land inside it.
var crashSchema = append(append(Schema{}, ledgerSchema...),
	SQL("create bulk", `CREATE TABLE bulk (
		seq INTEGER PRIMARY KEY REFERENCES ledger(seq),
		sealed BLOB NOT NULL);`))

func bulkID(seq int64) []byte { return Identity(Str("bulk"), I64(seq)) }

// bulkContent is the deterministic content of bulk row seq.
func bulkContent(seq int64) []byte {
	out := make([]byte, 0, crashBulkSize)
	h := sha256.Sum256(fmt.Appendf(nil, "bulk %d", seq))
	for len(out) < crashBulkSize {
		out = append(out, h[:]...)
		h = sha256.Sum256(h[:])
	}
	return out[:crashBulkSize]
}

// crashStep is one state change touching three tables: a ledger row, a
// bulk row and the balance update.
func crashStep(ctx context.Context, s *Store, amount int64) error {
	return s.Tx(ctx, func(tx *Tx) error {
		return addEntry(tx, amount, func(seq int64) error {
			sbulk, err := tx.Seal("bulk", bulkID(seq), bulkContent(seq))
			if err != nil {
				return err
			}
			_, err = tx.Exec(`INSERT INTO bulk(seq, sealed) VALUES (?, ?)`, seq, sbulk)
			return err
		})
	})
}

func checkCrash(t testing.TB, s *Store) int64 {
	t.Helper()
	n := checkLedger(t, s)
	require.NoError(t, s.View(context.Background(), func(tx *Tx) error {
		rows, err := tx.Query(`SELECT seq, sealed FROM bulk ORDER BY seq`)
		if err != nil {
			return err
		}
		defer rows.Close()
		var cnt int64
		for rows.Next() {
			var seq int64
			var sealed []byte
			require.NoError(t, rows.Scan(&seq, &sealed))
			cnt++
			require.Equal(t, cnt, seq)
			pt, err := tx.Unseal("bulk", bulkID(seq), sealed)
			require.NoError(t, err, "bulk row %d", seq)
			require.Equal(t, bulkContent(seq), pt, "bulk row %d", seq)
		}
		require.Equal(t, n, cnt, "bulk rows != ledger rows")
		return rows.Err()
	}))
	return n
}

// crashChild is the child's main: open, announce, write until killed. It
// exits on its own after a minute so a lost parent cannot leak it forever.
func crashChild() int {
	d, err := ParseDurability(os.Getenv(crashDurEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	c, err := OpenFileCounter(os.Getenv(crashCtrEnv), testKey(), CounterDurability(d))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	s, err := Open(os.Getenv(crashDBEnv), testKey(), crashSchema, WithCounter(c), WithDurability(d))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for i := int64(0); time.Now().Before(deadline); i++ {
		if err := crashStep(ctx, s, i%11); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 3
		}
		if i == 0 {
			fmt.Println("ready")
		}
	}
	return 0
}

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) == "1" {
		os.Exit(crashChild())
	}
	os.Exit(m.Run())
}

// TestCrashConsistency kills the writer under both durabilities: a kill -9
// needs no fsync, so even DurabilityProcess (the device default) must
// lose nothing committed.
func TestCrashConsistency(t *testing.T) {
	for _, d := range []Durability{DurabilityProcess, DurabilityPower} {
		t.Run(d.String(), func(t *testing.T) { crashConsistency(t, d) })
	}
}

func crashConsistency(t *testing.T, d Durability) {
	p := newProtected(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x5EA1))

	const rounds = 8
	var last int64
	for round := range rounds {
		// Even rounds kill at any instant from process start (during Open,
		// initialisation or a migration, too); odd rounds kill once the
		// child is writing.
		waitReady := round%2 == 1
		delay := time.Duration(rng.IntN(40)) * time.Millisecond
		if waitReady {
			delay = time.Duration(5+rng.IntN(150)) * time.Millisecond
		}
		killChild(t, p, d, waitReady, delay)

		s, err := Open(p.dbPath, testKey(), crashSchema, WithCounter(mustFileCounter(t, p.ctrPath)))
		require.NoError(t, err, "round %d: the database must open after SIGKILL", round)
		n := checkCrash(t, s)
		require.GreaterOrEqual(t, n, last, "round %d: committed entries lost", round)
		require.Equal(t, s.Generation(), p.counter(t), "round %d: counter caught up", round)
		require.NoError(t, s.Close())
		t.Logf("round %d: killed after %v (wait ready %v): %d entries", round, delay, waitReady, n)
		last = n
	}
	require.Positive(t, last, "the child made progress")
}

func mustFileCounter(t testing.TB, path string) *FileCounter {
	c, err := OpenFileCounter(path, testKey())
	require.NoError(t, err)
	return c
}

// killChild starts a writer child and SIGKILLs it by pid after delay
// (counted from its "ready" line when waitReady).
func killChild(t *testing.T, p protected, d Durability, waitReady bool, delay time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1", crashDBEnv+"="+p.dbPath, crashCtrEnv+"="+p.ctrPath,
		crashDurEnv+"="+d.String())
	stderr := &testkit.Buffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	// On any early return, end the child by its pid handle and reap it.
	// os.Process tracks the child (pidfd), so this never signals a reused pid.
	waited := false
	defer func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()

	if waitReady {
		ready := make(chan error, 1)
		go func() {
			line, err := bufio.NewReader(out).ReadString('\n')
			if err == nil && line != "ready\n" {
				err = fmt.Errorf("unexpected line %q", line)
			}
			ready <- err
		}()
		select {
		case err := <-ready:
			require.NoError(t, err, "child stderr: %s", stderr.String())
		case <-ctx.Done():
			t.Fatalf("child not ready: %v; stderr: %s", ctx.Err(), stderr.String())
		}
	}
	time.Sleep(delay)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL)) // kill -9 <pid>
	err = cmd.Wait()
	waited = true
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ws, ok := ee.Sys().(syscall.WaitStatus)
		require.True(t, ok)
		if !ws.Signaled() {
			t.Fatalf("child exited by itself (%v); stderr: %s", err, stderr.String())
		}
		return
	}
	require.NoError(t, err)
	t.Fatalf("child exited 0 before the kill; stderr: %s", stderr.String())
}
