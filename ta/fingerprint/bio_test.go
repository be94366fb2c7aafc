package fingerprint

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
)

// payments drains FETCH_OUTBOX and opens every envelope as the payment TA
// does (its own keys and replay guard), returning the decoded messages.
func (b *bench) payments(t *testing.T) (lists []bio.FingerList, results []bio.AuthResult) {
	t.Helper()
	envs, left, err := fpproto.FetchOutbox{}.Execute(ctx(t), b.cmd)
	require.NoError(t, err)
	require.Zero(t, left)
	for _, e := range envs {
		m, err := b.d.payment.Open(e)
		require.NoError(t, err, "the payment TA opens the fingerprint TA's envelope")
		require.Equal(t, tee.UUIDFingerprint, m.From)
		switch m.Type {
		case envelope.MsgFingerList:
			l, err := bio.ParseFingerList(m.Payload)
			require.NoError(t, err)
			lists = append(lists, l)
		case envelope.MsgBioAuthResult:
			r, err := bio.ParseAuthResult(m.Payload)
			require.NoError(t, err)
			results = append(results, r)
		default:
			t.Fatalf("unexpected envelope type %v", m.Type)
		}
	}
	return lists, results
}

// TestBioEnvelopes: the payment hook gets the finger lists at start
// (first key or active group), after enroll and remove, and an auth result
// for every attempt — sealed for the payment TA, drained by FETCH_OUTBOX,
// openable only there.
func TestBioEnvelopes(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	lists, results := b.payments(t)
	assert.Empty(t, lists, "no group yet: nothing to report at start")
	assert.Empty(t, results)

	const gid, sid = 4, 0x1234
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.SetActiveGroup{GID: gid, Path: t.TempDir()}))
	lists, _ = b.payments(t)
	require.Len(t, lists, 1)
	assert.Equal(t, uint32(gid), lists[0].GroupID)
	assert.Empty(t, lists[0].FingerIDs)
	assert.Zero(t, lists[0].AuthenticatorID)

	f := testFinger(60)
	fid := b.enroll(t, gid, sid, f)
	authID, err := b.ta.AuthenticatorID(ctx(t), gid)
	require.NoError(t, err)
	lists, _ = b.payments(t)
	require.Len(t, lists, 1)
	assert.Equal(t, bio.FingerList{GroupID: gid, AuthenticatorID: authID, FingerIDs: []uint32{fid}, TimestampMs: d.Clock.NowMs()}, lists[0])

	const op = 0xFEEDFACE12345678
	b.present(t, probe(testFinger(61), 1))
	b.authenticate(t, op, gid, probe(f, 2))
	_, results = b.payments(t)
	require.Len(t, results, 2)
	assert.Equal(t, bio.AuthResult{Result: bioResultRejected, AuthenticatorID: authID, GroupID: gid,
		SensorVersion: DefaultSensorVersion, TransactionID: op, TimestampMs: d.Clock.NowMs()}, results[0])
	assert.Equal(t, bio.AuthResult{Result: bio.ResultSuccess, UserID: sid, AuthenticatorID: authID, GroupID: gid, FingerID: fid,
		SensorVersion: DefaultSensorVersion, TransactionID: op, TimestampMs: d.Clock.NowMs()}, results[1])

	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.Remove{GID: gid, FID: fid}))
	b.next(t)
	lists, _ = b.payments(t)
	require.Len(t, lists, 1)
	assert.Equal(t, bio.FingerList{GroupID: gid, TimestampMs: d.Clock.NowMs()}, lists[0])

	// A fresh TA process reports every enrolled group at its first key.
	b.enroll(t, gid, sid, f)
	b.enroll(t, gid+1, sid, testFinger(62))
	b.payments(t)
	b.ta.Close()
	d.Clock.Advance(time.Second) // the boot clock moves on while the TA restarts
	b = d.ready(t)
	lists, _ = b.payments(t)
	require.Len(t, lists, 2)
	assert.Equal(t, uint32(gid), lists[0].GroupID)
	assert.Equal(t, uint32(gid+1), lists[1].GroupID)
}

// TestFetchOutboxShortBuffer: a buffer too small for the oldest envelope
// is TEEC_ERROR_SHORT_BUFFER with the size needed, and nothing is lost.
func TestFetchOutboxShortBuffer(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	require.Equal(t, fpproto.SysOK, b.do(t, fpproto.SetActiveGroup{GID: 1, Path: t.TempDir()}))
	_, _, err := fpproto.FetchOutbox{Capacity: 10}.Execute(ctx(t), b.cmd)
	require.ErrorIs(t, err, tee.ErrShortBuffer)
	envs, _, err := fpproto.FetchOutbox{}.Execute(ctx(t), b.cmd)
	require.NoError(t, err)
	assert.Len(t, envs, 1)
}
