package bio

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
)

var _ Hook = (*Sender)(nil)
var _ Hook = Discard{}

func TestSenderAuthResult(t *testing.T) {
	clock := tee.NewFakeClock(777)
	s := newSender(t, clock)
	o := newPaymentOpener(t)
	m := Match{UserID: 0x5151, AuthenticatorID: 0xA1D, GroupID: 4, SensorVersion: 7}
	require.NoError(t, s.SetAuthResult(ResultSuccess, 2, 0xC0FFEE, m))
	clock.Set(900)
	require.NoError(t, s.SetAuthResult(1, 2, 0xBEEF, Match{AuthenticatorID: 0xA1D, GroupID: 4}))
	require.Equal(t, 2, s.Pending())
	envs := s.Drain(0)
	require.Len(t, envs, 2)
	assert.Zero(t, s.Pending())

	want := []AuthResult{
		{Result: 0, UserID: 0x5151, AuthenticatorID: 0xA1D, GroupID: 4, FingerID: 2, SensorVersion: 7, TransactionID: 0xC0FFEE, TimestampMs: 777},
		{Result: 1, AuthenticatorID: 0xA1D, GroupID: 4, FingerID: 0, TransactionID: 0xBEEF, TimestampMs: 900},
	}
	for i, e := range envs {
		msg, err := o.Open(e)
		require.NoError(t, err)
		assert.Equal(t, tee.UUIDFingerprint, msg.From)
		assert.Equal(t, envelope.MsgBioAuthResult, msg.Type)
		r, err := ParseAuthResult(msg.Payload)
		require.NoError(t, err)
		assert.Equal(t, want[i], r, "failure is sent with finger id 0")
	}
}

func TestSenderSuccessWithoutFinger(t *testing.T) {
	s := newSender(t, tee.NewFakeClock(1))
	require.ErrorIs(t, s.SetAuthResult(ResultSuccess, 0, 1, Match{}), ErrMalformed)
	assert.Zero(t, s.Pending(), "nothing queued on error")
}

func TestSenderFingerList(t *testing.T) {
	s := newSender(t, tee.NewFakeClock(10))
	o := newPaymentOpener(t)
	in := []uint32{7, 1, 2}
	require.NoError(t, s.SetFingerList(3, 99, in))
	assert.Equal(t, []uint32{7, 1, 2}, in, "caller's slice untouched")
	envs := s.Drain(0)
	require.Len(t, envs, 1)
	msg, err := o.Open(envs[0])
	require.NoError(t, err)
	assert.Equal(t, envelope.MsgFingerList, msg.Type)
	l, err := ParseFingerList(msg.Payload)
	require.NoError(t, err)
	assert.Equal(t, FingerList{GroupID: 3, AuthenticatorID: 99, FingerIDs: []uint32{1, 2, 7}, TimestampMs: 10}, l)

	require.ErrorIs(t, s.SetFingerList(3, 99, []uint32{1, 1}), ErrMalformed)
	require.ErrorIs(t, s.SetFingerList(3, 99, []uint32{0}), ErrMalformed)
	assert.Zero(t, s.Pending())
}

// TestSenderOrderAndCoalescing: a newer list for a group supersedes a
// pending older one, and the outbox stays in sequence order, so the payment
// TA's replay guard accepts every drained envelope.
func TestSenderOrderAndCoalescing(t *testing.T) {
	s := newSender(t, tee.NewFakeClock(1))
	o := newPaymentOpener(t)
	require.NoError(t, s.SetFingerList(0, 1, []uint32{1}))
	require.NoError(t, s.SetFingerList(1, 5, []uint32{4}))
	require.NoError(t, s.SetAuthResult(0, 1, 100, Match{GroupID: 0, AuthenticatorID: 1, UserID: 9}))
	require.NoError(t, s.SetFingerList(0, 2, []uint32{1, 2}))
	envs := s.Drain(0)
	require.Len(t, envs, 3)
	var kinds []string
	for _, e := range envs {
		msg, err := o.Open(e)
		require.NoError(t, err, "drained envelopes open in order")
		switch msg.Type {
		case envelope.MsgFingerList:
			l, err := ParseFingerList(msg.Payload)
			require.NoError(t, err)
			kinds = append(kinds, "list", string(rune('0'+l.GroupID)), string(rune('0'+l.AuthenticatorID)))
		case envelope.MsgBioAuthResult:
			kinds = append(kinds, "auth")
		}
	}
	assert.Equal(t, []string{"list", "1", "5", "auth", "list", "0", "2"}, kinds)
}

func TestSenderEviction(t *testing.T) {
	s := newSender(t, tee.NewFakeClock(1))
	for i := range MaxPending {
		require.NoError(t, s.SetAuthResult(0, 1, uint64(i+1), Match{}))
	}
	require.NoError(t, s.SetFingerList(0, 1, []uint32{1}))
	assert.Equal(t, MaxPending, s.Pending())
	assert.Equal(t, uint64(1), s.Evicted())
	o := newPaymentOpener(t)
	envs := s.Drain(0)
	msg, err := o.Open(envs[0])
	require.NoError(t, err)
	r, err := ParseAuthResult(msg.Payload)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), r.TransactionID, "the oldest auth result was evicted")

	// Only finger lists pending (one per group): nothing to evict.
	for g := range MaxPending {
		require.NoError(t, s.SetFingerList(uint32(g), 1, nil))
	}
	require.ErrorIs(t, s.SetFingerList(MaxPending, 1, nil), ErrOutboxFull)
	require.NoError(t, s.SetFingerList(0, 2, nil), "a group already pending coalesces")
	assert.Equal(t, MaxPending, s.Pending())
}

func TestSenderDrainLimit(t *testing.T) {
	s := newSender(t, tee.NewFakeClock(1))
	for i := range 3 {
		require.NoError(t, s.SetAuthResult(0, 1, uint64(i+1), Match{}))
	}
	size := envelope.Overhead + AuthResultSize
	assert.Equal(t, size, s.PendingSize())
	assert.Empty(t, s.Drain(size-1))
	assert.Equal(t, 3, s.Pending(), "nothing removed when nothing fits")
	assert.Len(t, s.Drain(2*size+1), 2)
	assert.Len(t, s.Drain(0), 1)
	assert.Zero(t, s.PendingSize())
	assert.Empty(t, s.Drain(0))
}

func TestNewSenderRefuses(t *testing.T) {
	km, err := envelope.NewSealer(tee.UUIDKeymaster, testKeys(), nil)
	require.NoError(t, err)
	fp, err := envelope.NewSealer(tee.UUIDFingerprint, testKeys(), nil)
	require.NoError(t, err)
	for _, c := range []struct {
		name  string
		s     *envelope.Sealer
		clock tee.Clock
	}{
		{"nil sealer", nil, tee.NewFakeClock(0)},
		{"nil clock", fp, nil},
		{"keymaster sealer", km, tee.NewFakeClock(0)},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewSender(c.s, c.clock)
			require.ErrorIs(t, err, ErrBadConfig)
			assert.Nil(t, s)
		})
	}
}

func TestDiscard(t *testing.T) {
	var h Hook = Discard{}
	require.NoError(t, h.SetAuthResult(0, 1, 2, Match{}))
	require.NoError(t, h.SetFingerList(0, 0, nil))
}

func TestBatch(t *testing.T) {
	s := newSender(t, tee.NewFakeClock(1))
	require.NoError(t, s.SetFingerList(0, 1, []uint32{1, 2}))
	require.NoError(t, s.SetAuthResult(0, 2, 3, Match{}))
	envs := s.Drain(0)
	b := AppendBatch(nil, envs)
	got, err := SplitBatch(b)
	require.NoError(t, err)
	assert.Equal(t, envs, got)
	got, err = SplitBatch(nil)
	require.NoError(t, err)
	assert.Empty(t, got)

	var many [][]byte
	for range MaxBatch + 1 {
		many = append(many, envs[1])
	}
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"truncated", b[:len(b)-1]},
		{"trailing header fragment", append(append([]byte(nil), b...), 1, 2, 3)},
		{"bad version inside", func() []byte { x := append([]byte(nil), b...); x[0] = 9; return x }()},
		{"too many", AppendBatch(nil, many)},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := SplitBatch(c.b)
			require.ErrorIs(t, err, ErrMalformed)
			assert.Nil(t, got)
		})
	}
}
