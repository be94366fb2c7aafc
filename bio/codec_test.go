package bio

import (
	"encoding/binary"
	"testing"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	goldenAuth = AuthResult{
		Result: ResultSuccess, UserID: 0x1122334455667788, AuthenticatorID: 0x0102030405060708,
		GroupID: 0, FingerID: 3, SensorVersion: 0x00010002, TransactionID: 0xa1a2a3a4a5a6a7a8, TimestampMs: 123456,
	}
	goldenAuthFail = AuthResult{
		Result: 1, AuthenticatorID: 0x0102030405060708, GroupID: 10, SensorVersion: 0x00010002,
		TransactionID: 0xa1a2a3a4a5a6a7a8, TimestampMs: 123457,
	}
	goldenList = FingerList{GroupID: 0, AuthenticatorID: 0x0102030405060708, FingerIDs: []uint32{1, 2, 7}, TimestampMs: 123456}
)

func TestAuthResultGolden(t *testing.T) {
	cases := []struct {
		file string
		r    AuthResult
	}{
		{"testdata/auth_result_v1.hex", goldenAuth},
		{"testdata/auth_result_fail_v1.hex", goldenAuthFail},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			want := testkit.ReadHex(t, c.file)
			require.Len(t, want, AuthResultSize)
			b, err := c.r.Marshal()
			require.NoError(t, err)
			assert.Equal(t, want, b)
			got, err := ParseAuthResult(want)
			require.NoError(t, err)
			assert.Equal(t, c.r, got)
		})
	}
}

func TestFingerListGolden(t *testing.T) {
	want := testkit.ReadHex(t, "testdata/finger_list_v1.hex")
	require.Len(t, want, FingerListHeaderSize+12)
	b, err := goldenList.Marshal()
	require.NoError(t, err)
	assert.Equal(t, want, b)
	got, err := ParseFingerList(want)
	require.NoError(t, err)
	assert.Equal(t, goldenList, got)
}

func TestFingerListRoundTrip(t *testing.T) {
	full := make([]uint32, MaxFingers)
	for i := range full {
		full[i] = uint32(i*3 + 1)
	}
	for _, fids := range [][]uint32{nil, {1}, {0xFFFFFFFF}, {5, 6}, full} {
		l := FingerList{GroupID: 9, AuthenticatorID: 77, FingerIDs: fids, TimestampMs: 1}
		b, err := l.Marshal()
		require.NoError(t, err)
		require.Len(t, b, FingerListHeaderSize+4*len(fids))
		got, err := ParseFingerList(b)
		require.NoError(t, err)
		assert.Equal(t, l, got)
	}
}

func TestAuthResultRejects(t *testing.T) {
	good, err := goldenAuth.Marshal()
	require.NoError(t, err)
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	cases := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"one short", good[:AuthResultSize-1]},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"version 0", mod(func(b []byte) { b[0] = 0 })},
		{"version 2", mod(func(b []byte) { b[0] = 2 })},
		{"success with finger 0", mod(func(b []byte) { clear(b[25:29]) })},
		{"failure with finger", mod(func(b []byte) { b[4] = 1 })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := ParseAuthResult(c.b)
			require.ErrorIs(t, err, ErrMalformed)
			assert.Equal(t, AuthResult{}, r)
		})
	}
	for _, r := range []AuthResult{{Result: 0, FingerID: 0}, {Result: 7, FingerID: 1}} {
		b, err := r.Marshal()
		require.ErrorIs(t, err, ErrMalformed)
		assert.Nil(t, b)
	}
}

func TestFingerListRejects(t *testing.T) {
	good, err := goldenList.Marshal()
	require.NoError(t, err)
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	count := func(n uint32) func(b []byte) { return func(b []byte) { binary.BigEndian.PutUint32(b[21:25], n) } }
	cases := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"header short", good[:FingerListHeaderSize-1]},
		{"truncated id", good[:len(good)-1]},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"version 2", mod(func(b []byte) { b[0] = 2 })},
		{"count says more", mod(count(4))},
		{"count says less", mod(count(2))},
		{"count over max", mod(count(MaxFingers + 1))},
		{"count 2^32-1", mod(count(0xFFFFFFFF))},
		{"finger 0", mod(func(b []byte) { clear(b[25:29]) })},
		{"unsorted", mod(func(b []byte) { b[28] = 9 })},
		{"duplicate", mod(func(b []byte) { b[32] = 1 })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := ParseFingerList(c.b)
			require.ErrorIs(t, err, ErrMalformed)
			assert.Equal(t, FingerList{}, l)
		})
	}
	tooMany := make([]uint32, MaxFingers+1)
	for i := range tooMany {
		tooMany[i] = uint32(i + 1)
	}
	for _, fids := range [][]uint32{{0}, {2, 1}, {3, 3}, tooMany} {
		b, err := FingerList{FingerIDs: fids}.Marshal()
		require.ErrorIs(t, err, ErrMalformed)
		assert.Nil(t, b)
	}
}
