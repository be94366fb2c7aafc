package gatekeeper

import (
	"bytes"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestComputeRetryTimeout checks every boundary of the AOSP schedule
// (gatekeeper.cpp ComputeRetryTimeout).
func TestComputeRetryTimeout(t *testing.T) {
	const s30 = 30000
	tests := []struct {
		counter uint32
		want    uint32
	}{
		{0, 0},
		{1, 0}, {2, 0}, {3, 0}, {4, 0},
		{5, s30},
		{6, 0}, {7, 0}, {8, 0}, {9, 0},
		{10, s30}, // the code, not the "[6, 10) -> 0" comment
		{11, s30}, {12, s30}, {15, s30}, {20, s30}, {29, s30},
		{30, s30}, {39, s30},
		{40, 60000}, {49, 60000},
		{50, 120000}, {59, 120000},
		{60, 240000}, {69, 240000},
		{70, 480000}, {79, 480000},
		{80, 960000}, {89, 960000},
		{90, 1920000}, {99, 1920000},
		{100, 3840000}, {109, 3840000},
		{110, 7680000}, {119, 7680000},
		{120, 15360000}, {129, 15360000},
		{130, 30720000}, {139, 30720000},
		{140, 86400000}, {141, 86400000},
		{1000, 86400000},
		{math.MaxUint32, 86400000},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, ComputeRetryTimeout(tc.counter), "counter %d", tc.counter)
	}
	// Exhaustive cross-check of 0..200 against a literal transcription.
	for c := uint32(0); c <= 200; c++ {
		var want uint32
		switch {
		case c == 0:
		case c <= 10 && c%5 == 0:
			want = s30
		case c <= 10:
		case c < 30:
			want = s30
		case c < 140:
			want = s30 * (1 << ((c - 30) / 10))
		default:
			want = 24 * 3600 * 1000
		}
		require.Equal(t, want, ComputeRetryTimeout(c), "counter %d", c)
	}
}

func TestThrottleRequest(t *testing.T) {
	const sid = 77
	tests := []struct {
		name    string
		rec     FailureRecord
		now     uint64
		want    Throttle
		comment string
	}{
		{
			name: "no failures",
			rec:  FailureRecord{SecureUserID: sid},
			now:  5,
			want: Throttle{Record: FailureRecord{SecureUserID: sid}},
		},
		{
			name: "4 failures: no timeout",
			rec:  FailureRecord{SecureUserID: sid, LastCheckedTimestamp: 1000, FailureCounter: 4},
			now:  1001,
			want: Throttle{Record: FailureRecord{SecureUserID: sid, LastCheckedTimestamp: 1000, FailureCounter: 4}},
		},
		{
			name: "5 failures, 1 ms later: remaining 29999",
			rec:  FailureRecord{SecureUserID: sid, LastCheckedTimestamp: 1000, FailureCounter: 5},
			now:  1001,
			want: Throttle{Rejected: true, RetryMs: 29999, Record: FailureRecord{SecureUserID: sid, LastCheckedTimestamp: 1000, FailureCounter: 5}},
		},
		{
			name: "5 failures, last ms of the window",
			rec:  FailureRecord{SecureUserID: sid, LastCheckedTimestamp: 1000, FailureCounter: 5},
			now:  30999,
			want: Throttle{Rejected: true, RetryMs: 1, Record: FailureRecord{SecureUserID: sid, LastCheckedTimestamp: 1000, FailureCounter: 5}},
		},
		{
			name: "5 failures, window over",
			rec:  FailureRecord{SecureUserID: sid, LastCheckedTimestamp: 1000, FailureCounter: 5},
			now:  31000,
			want: Throttle{Record: FailureRecord{SecureUserID: sid, LastCheckedTimestamp: 1000, FailureCounter: 5}},
		},
		{
			name: "reboot: now < last ⇒ reset last, persist, full timeout",
			rec:  FailureRecord{SecureUserID: sid, LastCheckedTimestamp: 500000, FailureCounter: 40},
			now:  20,
			want: Throttle{Rejected: true, RetryMs: 60000, Persist: true, Record: FailureRecord{SecureUserID: sid, LastCheckedTimestamp: 20, FailureCounter: 40}},
		},
		{
			name: "same millisecond counts as reset",
			rec:  FailureRecord{SecureUserID: sid, LastCheckedTimestamp: 1000, FailureCounter: 10},
			now:  1000,
			want: Throttle{Rejected: true, RetryMs: 30000, Persist: true, Record: FailureRecord{SecureUserID: sid, LastCheckedTimestamp: 1000, FailureCounter: 10}},
		},
		{
			name: "one day near the top of the clock",
			rec:  FailureRecord{SecureUserID: sid, LastCheckedTimestamp: math.MaxUint64 - 10, FailureCounter: 200},
			now:  math.MaxUint64,
			want: Throttle{Rejected: true, RetryMs: DayInMs - 10, Record: FailureRecord{SecureUserID: sid, LastCheckedTimestamp: math.MaxUint64 - 10, FailureCounter: 200}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ThrottleRequest(tc.rec, tc.now))
		})
	}
}

func TestFailureRecordIncrement(t *testing.T) {
	r := FailureRecord{}.Increment(9, 100)
	assert.Equal(t, FailureRecord{SecureUserID: 9, LastCheckedTimestamp: 100, FailureCounter: 1}, r)
	r = r.Increment(9, 200)
	assert.Equal(t, FailureRecord{SecureUserID: 9, LastCheckedTimestamp: 200, FailureCounter: 2}, r)
	top := FailureRecord{SecureUserID: 9, FailureCounter: math.MaxUint32}.Increment(9, 1)
	assert.Equal(t, uint32(math.MaxUint32), top.FailureCounter, "saturates, never wraps to 0")
}

func TestFailureRecordCodec(t *testing.T) {
	r := FailureRecord{SecureUserID: 0x0102030405060708, LastCheckedTimestamp: 0x1112131415161718, FailureCounter: 0x21222324}
	b := r.Marshal()
	assert.Equal(t, []byte{
		8, 7, 6, 5, 4, 3, 2, 1,
		0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
		0x24, 0x23, 0x22, 0x21,
	}, b)
	got, err := ParseFailureRecord(b)
	require.NoError(t, err)
	assert.Equal(t, r, got)
	for _, n := range []int{0, 19, 21} {
		got, err := ParseFailureRecord(make([]byte, n))
		require.ErrorIs(t, err, ErrFailureRecord)
		assert.Zero(t, got)
	}
}

func FuzzParseFailureRecord(f *testing.F) {
	f.Add(FailureRecord{SecureUserID: 1, LastCheckedTimestamp: 2, FailureCounter: 3}.Marshal())
	f.Add([]byte{})
	f.Add(make([]byte, 21))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseFailureRecord(b)
		if err != nil {
			if r != (FailureRecord{}) {
				t.Fatalf("partial result with error")
			}
			return
		}
		if !bytes.Equal(r.Marshal(), b) {
			t.Fatalf("round trip")
		}
	})
}
