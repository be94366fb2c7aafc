package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/payserver/store"
)

// raceWorld is a world of one registered device over a store of h and,
// where the backend has shared storage, the same database opened a
// second time (what a second server process sees); stores[0] is w.s.
func raceWorld(t *testing.T, h Harness) (w *world, stores []store.Store) {
	t.Helper()
	clk := NewClock()
	s1, target := h.New(t, store.Options{Now: clk.Now})
	w = &world{s: s1, clk: clk, d: newDevice(t)}
	ctx := context.Background()
	require.NoError(t, s1.RegisterDevice(ctx, w.d.dev))
	stores = []store.Store{s1}
	if h.Reopen != nil {
		s2, err := h.Reopen(ctx, target, store.Options{Now: clk.Now})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s2.Close() })
		stores = append(stores, s2)
	}
	return w, stores
}

// raceOnce starts n calls f(0) … f(n-1) together and requires that
// exactly one succeeds and every other fails with lost: the store's
// compare-and-set or single-use rule holds under contention.
func raceOnce(t *testing.T, what string, n int, lost error, f func(i int) error) {
	t.Helper()
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, lost):
			t.Fatalf("%s: %v", what, err)
		}
	}
	require.Equal(t, 1, won, "%s: accepted %d times", what, won)
}
