package storetest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/payserver/store"
)

// ChildEnv names the mode of a child test binary (testkit.Main). The
// child's store target and booking travel in TargetEnv and BookingEnv:
// names and public test data, never a secret (a PostgreSQL child reads
// its DSN from FPEMU_TEST_POSTGRES, as its parent does).
const (
	ChildEnv   = "FPEMU_STORETEST_CHILD"
	TargetEnv  = "FPEMU_STORETEST_TARGET"
	BookingEnv = "FPEMU_STORETEST_BOOKING"
)

// childBook is the only child mode: open the target, print "ready", wait
// for a line on stdin, book, print the outcome.
const childBook = "book"

// sentinels the child names in its outcome line.
var sentinels = []error{store.ErrChallengeUsed, store.ErrChallengeUnknown, store.ErrChallengeExpired,
	store.ErrChallengeMismatch, store.ErrCounter, store.ErrOrderPaid, store.ErrRequestConflict}

// Child is what a backend's TestMain runs in a child process: reopen
// opens the target the parent named. It returns the exit code.
func Child(mode string, reopen func(ctx context.Context, target string, opts store.Options) (store.Store, error)) int {
	if mode != childBook {
		fmt.Fprintf(os.Stderr, "storetest: unknown child mode %q\n", mode)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b store.Booking
	if err := json.Unmarshal([]byte(os.Getenv(BookingEnv)), &b); err != nil {
		fmt.Fprintf(os.Stderr, "storetest: booking: %v\n", err)
		return 2
	}
	s, err := reopen(ctx, os.Getenv(TargetEnv), store.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "storetest: open: %v\n", err)
		return 1
	}
	defer s.Close()
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fmt.Fprintf(os.Stderr, "storetest: no go line: %v\n", err)
		return 1
	}
	rc, err := s.Book(ctx, b)
	fmt.Println(outcome(rc, err))
	return 0
}

func outcome(rc store.Receipt, err error) string {
	if err == nil {
		if rc.Replayed {
			return "replayed " + strconv.FormatInt(rc.EntryID, 10)
		}
		return "booked " + strconv.FormatInt(rc.EntryID, 10)
	}
	for i, s := range sentinels {
		if errors.Is(err, s) {
			return "refused " + strconv.Itoa(i)
		}
	}
	return "error " + strings.ReplaceAll(err.Error(), "\n", " ")
}

func parseOutcome(t *testing.T, line string) result {
	t.Helper()
	verb, arg, _ := strings.Cut(line, " ")
	n, _ := strconv.ParseInt(arg, 10, 64)
	switch verb {
	case "booked":
		return result{entry: n}
	case "replayed":
		return result{entry: n, replayed: true}
	case "refused":
		require.Less(t, int(n), len(sentinels), line)
		return result{err: sentinels[n]}
	}
	t.Fatalf("child: %s", line)
	return result{}
}

// testRaceProcesses books one statement from two separate OS processes
// (the test binary run again, each with its own connection pool on the
// shared database) and from goroutines of this process, all at once.
func testRaceProcesses(t *testing.T, h Harness) {
	if h.Reopen == nil {
		t.Skip("backend has no shared storage for a second process")
	}
	w := setup(t, h, store.Options{Now: time.Now})
	_, target := h.New(t, store.Options{})
	ctx := context.Background()
	// The race runs on the shared target, with the real clock (children
	// have no other).
	s, err := h.Reopen(ctx, target, store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.RegisterDevice(ctx, w.d.dev))
	require.NoError(t, s.RegisterKey(ctx, w.key))
	o, _, err := s.CreateOrder(ctx, w.order.NewOrder)
	require.NoError(t, err)
	c, err := s.IssueChallenge(ctx, o.ID, w.d.dev.ID)
	require.NoError(t, err)
	b := w.d.pay(t, w.key, c, 100, 1, "parent")

	const procs, goroutines = 2, 6
	var gos []io.WriteCloser
	var children []*testkit.Proc
	for i := range procs {
		bi := b
		bi.RequestID = fmt.Appendf(nil, "child%d", i)
		js, err := json.Marshal(bi)
		require.NoError(t, err)
		cmd := testkit.ChildCommand(ChildEnv+"="+childBook, TargetEnv+"="+target, BookingEnv+"="+string(js))
		in, err := cmd.StdinPipe()
		require.NoError(t, err)
		p := testkit.Start(t, cmd)
		gos = append(gos, in)
		children = append(children, p)
	}
	for _, p := range children {
		require.Equal(t, "ready", p.Line(t, time.Minute))
	}
	results := make([]result, goroutines, goroutines+procs)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() {
			bi := b
			if i%2 == 1 {
				bi.RequestID = fmt.Appendf(nil, "g%d", i)
			}
			<-start
			rc, err := s.Book(ctx, bi)
			results[i] = result{rc.EntryID, rc.Replayed, err}
		})
	}
	for _, in := range gos {
		_, err := io.WriteString(in, "go\n")
		require.NoError(t, err)
		require.NoError(t, in.Close())
	}
	close(start)
	wg.Wait()
	for _, p := range children {
		results = append(results, parseOutcome(t, p.Line(t, time.Minute)))
		require.Equal(t, 0, p.ExitCode(t, time.Minute), p.Stderr())
	}
	checkOneBooking(t, s, results)
}
