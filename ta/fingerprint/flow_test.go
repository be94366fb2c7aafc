package fingerprint

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tokens"
)

// TestEnrollAuthenticateHAT is the main flow over real sockets: a password
// HAT enrolls a finger, and authenticating it yields a FINGERPRINT HAT that
// tokens.Verifier accepts with challenge = operation_id, the bound SID and
// the group's authenticator id.
func TestEnrollAuthenticateHAT(t *testing.T) {
	d := newDevice(t)
	b := d.ready(t)
	const gid, sid = 7, 0x1122334455667788
	f := testFinger(1)
	fid := b.enroll(t, gid, sid, f)

	recs := templates(t, b.ta, gid)
	require.Len(t, recs, 1)
	assert.Equal(t, fid, recs[0].FID)
	assert.Equal(t, uint64(sid), recs[0].Record.SID, "HAT user_id is the SID bound to the template")

	authID, err := b.ta.AuthenticatorID(ctx(t), gid)
	require.NoError(t, err)
	require.NotZero(t, authID)

	const opID = 0xA1A2A3A4A5A6A7A8
	d.Clock.Advance(3 * time.Second)
	evs := b.authenticate(t, opID, gid, probe(f, 1))
	last := evs[len(evs)-1]
	require.Equal(t, fpproto.MsgAuthenticated, last.Type, "%v", evs)
	assert.Equal(t, fid, last.FingerID)
	assert.Equal(t, uint32(gid), last.GroupID)
	require.Len(t, last.HAT, tokens.Size)

	v := tokens.NewVerifier(d.mac).
		WithChallenge(opID).
		WithAuthenticatorTypes(tokens.AuthFingerprint).
		WithSecureIDs(authID).
		WithFreshness(d.Clock.NowMs(), time.Second)
	tok, err := v.Verify(last.HAT)
	require.NoError(t, err)
	assert.Equal(t, uint64(opID), tok.Challenge)
	assert.Equal(t, uint64(sid), tok.UserID)
	assert.Equal(t, authID, tok.AuthenticatorID)
	assert.Equal(t, tokens.AuthFingerprint, tok.AuthenticatorType)
	assert.Equal(t, d.Clock.NowMs(), tok.Timestamp)
	b.quiet(t)
}
