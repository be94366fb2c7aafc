package keymaster

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/keymaster/kmproto"
)

func TestMalusAge(t *testing.T) {
	tests := []struct {
		idle time.Duration
		want int64
	}{
		{0, 0}, {4 * time.Second, 0}, {5 * time.Second, 1}, {34 * time.Second, 1},
		{35 * time.Second, 2}, {215 * time.Second, 3}, {-time.Second, 0},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, malusAge(int64(tc.idle)), "idle %v", tc.idle)
	}
}

// TestOperationPruning: a full operation table prunes keystore2-style
// (OperationDb::prune) instead of refusing, so one client cannot hold
// every slot.
func TestOperationPruning(t *testing.T) {
	ctx := context.Background()
	var now int64
	f := newFixture(t, func(c *Config) { c.MaxOperations = 4 })
	f.ta.ops.now = func() int64 { return now }
	k, err := kmproto.GenerateKey{Params: p256Params(kmproto.NoAuthRequiredParam())}.Execute(ctx, f.session())
	require.NoError(t, err)
	client := func(id uint64) direct { return direct{f.ta.newSession(id)} }
	begin := func(inv direct) (uint64, error) {
		now += int64(time.Millisecond)
		return kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
	}
	// live touches h a millisecond after the previous step, so that no two
	// operations share a last-use time (the LRU order is then total).
	live := func(inv direct, h uint64) bool {
		now += int64(time.Millisecond)
		return kmproto.Update{Handle: h, Input: []byte("x")}.Execute(ctx, inv) == nil
	}

	t.Run("a hog loses its least recently used operation to another client", func(t *testing.T) {
		hog, other := client(1), client(2)
		var hs []uint64
		for range 4 {
			h, err := begin(hog)
			require.NoError(t, err)
			hs = append(hs, h)
		}
		now += int64(time.Millisecond)
		for _, h := range hs[1:] {
			require.True(t, live(hog, h)) // hs[0] is now the least recently used
		}
		mine, err := begin(other)
		require.NoError(t, err, "the second client can still begin")
		assert.False(t, live(hog, hs[0]), "the hog's LRU operation was pruned")
		for _, h := range hs[1:] {
			assert.True(t, live(hog, h))
		}

		// The hog begins again: it cannot prune the other client's single
		// operation (malus 1 < its own 4), so it cannibalises its own.
		_, err = begin(hog)
		require.NoError(t, err)
		assert.True(t, live(other, mine), "the other client's operation survives")
		assert.False(t, live(hog, hs[1]), "the hog's own LRU operation went")
		_, err = kmproto.Finish{Handle: mine}.Execute(ctx, other)
		require.NoError(t, err)
		other.s.Close()
		hog.s.Close()
		require.Zero(t, f.ta.Operations())
	})

	t.Run("fresh single operations of other clients are not prunable; aged ones are", func(t *testing.T) {
		var sessions []direct
		var hs []uint64
		for id := uint64(10); id < 14; id++ {
			s := client(id)
			sessions = append(sessions, s)
			h, err := begin(s)
			require.NoError(t, err)
			hs = append(hs, h)
		}
		late := client(20)
		_, err := begin(late)
		require.ErrorIs(t, err, kmproto.ErrTooManyOperations, "malus 1 cannot prune malus 1")
		now += int64(5 * time.Second)
		require.True(t, live(sessions[1], hs[1]), "touched: young again")
		_, err = begin(late)
		require.NoError(t, err, "an operation idle 5 s (malus 2) is prunable")
		assert.False(t, live(sessions[0], hs[0]), "the least recently used idle one went")
		assert.True(t, live(sessions[1], hs[1]))
		for _, s := range append(sessions, late) {
			s.s.Close()
		}
	})

	t.Run("without pruning one client holds every slot", func(t *testing.T) {
		f.ta.ops.noPrune = true
		defer func() { f.ta.ops.noPrune = false }()
		hog, other := client(30), client(31)
		for range 4 {
			_, err := begin(hog)
			require.NoError(t, err)
		}
		_, err := begin(other)
		require.ErrorIs(t, err, kmproto.ErrTooManyOperations)
		hog.s.Close()
	})
}
