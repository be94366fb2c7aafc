// Package gatekeepertest holds the Gatekeeper VTS cases, ported from AOSP
// hardware/interfaces gatekeeper/aidl/vts/functional/VtsHalGatekeeperTargetTest.cpp
// (same names as the HIDL 1.0 GatekeeperHidlTest), as a suite that runs
// against any rpc.Invoker speaking the Gatekeeper TA protocol
// (docs/protocol.md §3): an in-process TA over a Unix socket, a TA process
// started by the launcher, or a vendor's TA.
//
// The suite, like VTS, calls DELETE_ALL_USERS before and after every case:
// run it only against a Gatekeeper whose users may be wiped.
package gatekeepertest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tokens"
)

// Target is the Gatekeeper under test.
type Target struct {
	// Invoker is a session on the Gatekeeper TA, which must already hold
	// Keymaster's auth-token key (SET_AUTH_TOKEN_KEY done).
	Invoker rpc.Invoker
	// MAC, if set, is Keymaster's auth-token key: every token is then also
	// checked with tokens.Verifier (MAC, challenge, PASSWORD type, SID).
	// Without it only the VTS verifyAuthToken field checks run.
	MAC *tokens.MAC
	// Timeout bounds each case (default 10 s).
	Timeout time.Duration
}

// Run runs every ported VTS case as a subtest of t.
func Run(t *testing.T, target Target) {
	t.Helper()
	require.NotNil(t, target.Invoker, "gatekeepertest: nil Invoker")
	testkit.RunCases(t, cases(), target.Timeout, 10*time.Second, func(t *testing.T, ctx context.Context) (*vts, func()) {
		v := &vts{t: t, ctx: ctx, target: target}
		v.deleteAllUsers() // SetUp
		return v, v.deleteAllUsers
	})
}

// cases returns the ported VTS cases in the order of the AOSP file.
func cases() []testkit.Case[*vts] {
	return []testkit.Case[*vts]{
		{Name: "EnrollSuccess", Run: enrollSuccess},
		{Name: "EnrollNoPassword", Run: enrollNoPassword},
		{Name: "VerifySuccess", Run: verifySuccess},
		{Name: "PasswordIsBinaryData", Run: passwordIsBinaryData},
		{Name: "LongPassword", Run: longPassword},
		{Name: "TrustedReenroll", Run: trustedReenroll},
		{Name: "UntrustedReenroll", Run: untrustedReenroll},
		{Name: "VerifyNoData", Run: verifyNoData},
		{Name: "DeleteUserTest", Run: deleteUserTest},
		{Name: "DeleteInvalidUserTest", Run: deleteInvalidUserTest},
		{Name: "DeleteAllUsersTest", Run: deleteAllUsersTest},
	}
}

// vts is the GatekeeperAidlTest fixture.
type vts struct {
	t      *testing.T
	ctx    context.Context
	target Target
	uid    uint32
}

func (v *vts) deleteAllUsers() {
	st, err := gkproto.DeleteAllUsers{}.Execute(v.ctx, v.target.Invoker)
	require.NoError(v.t, err)
	require.Contains(v.t, []gkproto.Status{gkproto.StatusOK, gkproto.ErrorNotImplemented}, st)
}

// generatePassword is VTS generatePassword: 16 bytes of seed.
func generatePassword(seed byte) []byte { return bytes.Repeat([]byte{seed}, 16) }

func (v *vts) enroll(req gkproto.Enroll) gkproto.EnrollResponse {
	req.UID = v.uid
	rsp, err := req.Execute(v.ctx, v.target.Invoker)
	require.NoError(v.t, err)
	return rsp
}

// enrollNewPassword is VTS enrollNewPassword + checkEnroll.
func (v *vts) enrollNewPassword(pw []byte, expectSuccess bool) gkproto.EnrollResponse {
	rsp := v.enroll(gkproto.Enroll{DesiredPassword: pw})
	v.checkEnroll(rsp, expectSuccess)
	return rsp
}

func (v *vts) checkEnroll(rsp gkproto.EnrollResponse, expectSuccess bool) {
	if expectSuccess {
		assert.Equal(v.t, gkproto.StatusOK, rsp.Status)
		assert.NotEmpty(v.t, rsp.Handle)
		assert.NotZero(v.t, rsp.SecureUserID)
		return
	}
	assert.Equal(v.t, gkproto.ErrorGeneralFailure, rsp.Status)
	assert.Empty(v.t, rsp.Handle)
}

func (v *vts) verify(pw, handle []byte, challenge uint64) gkproto.VerifyResponse {
	rsp, err := gkproto.Verify{UID: v.uid, Challenge: challenge, Handle: handle, Password: pw}.Execute(v.ctx, v.target.Invoker)
	require.NoError(v.t, err)
	return rsp
}

// verifyPasswordSucceeds is VTS verifyPassword(expectSuccess=true).
func (v *vts) verifyPasswordSucceeds(pw, handle []byte, challenge uint64) gkproto.VerifyResponse {
	rsp := v.verify(pw, handle, challenge)
	assert.GreaterOrEqual(v.t, rsp.Status, gkproto.StatusOK)
	assert.LessOrEqual(v.t, rsp.Status, gkproto.StatusReenroll)
	v.verifyAuthToken(rsp)
	assert.Equal(v.t, challenge, rsp.Token.Challenge)
	if v.target.MAC != nil {
		_, err := tokens.NewVerifier(v.target.MAC).
			WithChallenge(challenge).
			WithAuthenticatorTypes(tokens.AuthPassword).
			WithSecureIDs(rsp.Token.UserID).
			Verify(rsp.Token.Marshal())
		assert.NoError(v.t, err, "token does not verify under Keymaster's auth-token key")
	}
	return rsp
}

// verifyPasswordFails is VTS verifyPassword(expectSuccess=false).
func (v *vts) verifyPasswordFails(pw, handle []byte, challenge uint64) {
	rsp := v.verify(pw, handle, challenge)
	assert.Equal(v.t, gkproto.ErrorGeneralFailure, rsp.Status)
	assert.Zero(v.t, rsp.Token, "no token on failure")
}

// verifyAuthToken is VTS verifyAuthToken.
func (v *vts) verifyAuthToken(rsp gkproto.VerifyResponse) {
	assert.Equal(v.t, tokens.AuthPassword, rsp.Token.AuthenticatorType)
	assert.NotEqual(v.t, ^uint64(0), rsp.Token.Timestamp)
	assert.NotZero(v.t, rsp.Token.UserID)
	// Not in VTS, implied by MintAuthToken: version 0, authenticator_id 0.
	assert.Equal(v.t, uint8(tokens.Version), rsp.Token.Version)
	assert.Zero(v.t, rsp.Token.AuthenticatorID)
}

func enrollSuccess(v *vts) {
	v.enrollNewPassword(generatePassword(0), true)
}

func enrollNoPassword(v *vts) {
	v.enrollNewPassword(nil, false)
}

func verifySuccess(v *vts) {
	pw := generatePassword(0)
	e := v.enrollNewPassword(pw, true)
	v.verifyPasswordSucceeds(pw, e.Handle, 1)
	v.verifyPasswordFails(generatePassword(1), e.Handle, 1)
}

func passwordIsBinaryData(v *vts) {
	right := []byte{'A', 'B', 'C', 0, 'D', 'E', 'F'}
	e := v.enrollNewPassword(right, true)
	v.verifyPasswordSucceeds(right, e.Handle, 1)
	v.verifyPasswordFails([]byte{'A', 'B', 'C', 0, 0, 0, 0}, e.Handle, 1)
}

func longPassword(v *vts) {
	pw := bytes.Repeat([]byte{'A'}, 64) // "maximum length used by Android"
	e := v.enrollNewPassword(pw, true)
	v.verifyPasswordSucceeds(pw, e.Handle, 1)
	pw[len(pw)-1] ^= 1
	v.verifyPasswordFails(pw, e.Handle, 1)
}

func trustedReenroll(v *vts) {
	pw := generatePassword(0)
	e := v.enrollNewPassword(pw, true)
	first := v.verifyPasswordSucceeds(pw, e.Handle, 0)

	newPw := generatePassword(1)
	re := v.enroll(gkproto.Enroll{CurrentHandle: e.Handle, CurrentPassword: pw, DesiredPassword: newPw})
	v.checkEnroll(re, true)
	second := v.verifyPasswordSucceeds(newPw, re.Handle, 0)
	assert.Equal(v.t, first.Token.UserID, second.Token.UserID, "trusted re-enroll keeps the SID")
}

func untrustedReenroll(v *vts) {
	pw := generatePassword(0)
	e := v.enrollNewPassword(pw, true)
	first := v.verifyPasswordSucceeds(pw, e.Handle, 0)

	newPw := generatePassword(1)
	re := v.enrollNewPassword(newPw, true)
	second := v.verifyPasswordSucceeds(newPw, re.Handle, 0)
	assert.NotEqual(v.t, first.Token.UserID, second.Token.UserID, "untrusted re-enroll gets a new SID")
}

func verifyNoData(v *vts) {
	v.verifyPasswordFails(nil, nil, 0)
}

func deleteUserTest(v *vts) {
	v.uid = 10001
	pw := generatePassword(0)
	e := v.enrollNewPassword(pw, true)
	v.verifyPasswordSucceeds(pw, e.Handle, 0)
	st, err := gkproto.DeleteUser{UID: v.uid}.Execute(v.ctx, v.target.Invoker)
	require.NoError(v.t, err)
	require.Contains(v.t, []gkproto.Status{gkproto.StatusOK, gkproto.ErrorNotImplemented}, st)
	if st == gkproto.StatusOK {
		v.verifyPasswordFails(pw, e.Handle, 0)
	}
}

func deleteInvalidUserTest(v *vts) {
	v.uid = 10002
	pw := generatePassword(0)
	e := v.enrollNewPassword(pw, true)
	v.verifyPasswordSucceeds(pw, e.Handle, 0)
	st, err := gkproto.DeleteUser{UID: v.uid}.Execute(v.ctx, v.target.Invoker)
	require.NoError(v.t, err)
	assert.Contains(v.t, []gkproto.Status{gkproto.StatusOK, gkproto.ErrorNotImplemented}, st)
	st, err = gkproto.DeleteUser{UID: v.uid}.Execute(v.ctx, v.target.Invoker)
	require.NoError(v.t, err)
	assert.Contains(v.t, []gkproto.Status{gkproto.ErrorNotImplemented, gkproto.ErrorGeneralFailure}, st)
}

func deleteAllUsersTest(v *vts) {
	type user struct {
		uid    uint32
		pw     []byte
		handle []byte
	}
	users := []*user{{uid: 10001}, {uid: 10002}, {uid: 10003}}
	for i, u := range users {
		v.uid = u.uid
		u.pw = generatePassword(byte(i%255 + 1))
		u.handle = v.enrollNewPassword(u.pw, true).Handle
	}
	for _, u := range users {
		v.uid = u.uid
		v.verifyPasswordSucceeds(u.pw, u.handle, 0)
	}
	st, err := gkproto.DeleteAllUsers{}.Execute(v.ctx, v.target.Invoker)
	require.NoError(v.t, err)
	require.Contains(v.t, []gkproto.Status{gkproto.StatusOK, gkproto.ErrorNotImplemented}, st)
	if st == gkproto.StatusOK {
		for _, u := range users {
			v.uid = u.uid
			v.verifyPasswordFails(u.pw, u.handle, 0)
		}
	}
}
