package kmproto

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tokens"
)

func TestErrorWireMapping(t *testing.T) {
	cases := []struct {
		code ErrorCode
		res  tee.Result
	}{
		{ErrorKeyUserNotAuthenticated, 0x4B4D001A},
		{ErrorInvalidOperationHandle, 0x4B4D001C},
		{ErrorTooManyOperations, 0x4B4D001F},
		{ErrorInvalidKeyBlob, 0x4B4D0021},
		{ErrorUnknownError, 0x4B4D03E8},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.res, tc.code.Result(), tc.code.String())
		got, ok := CodeOf(tc.res)
		require.True(t, ok)
		assert.Equal(t, tc.code, got)
	}
	assert.Equal(t, tee.Success, ErrorOK.Result())
	assert.Equal(t, ErrorUnknownError.Result(), ErrorCode(-0x10000).Result())
	assert.Equal(t, ErrorUnknownError.Result(), ErrorCode(5).Result())
	for _, r := range []tee.Result{tee.Success, tee.ResultAccessDenied, ResultBase, 0x4B4C001A} {
		_, ok := CodeOf(r)
		assert.False(t, ok, "%v", r)
	}
}

func TestErrorIsAndRoundTrip(t *testing.T) {
	inner := &Error{Code: ErrorKeyUserNotAuthenticated, Err: tokens.ErrExpired}
	assert.ErrorIs(t, inner, ErrKeyUserNotAuthenticated)
	assert.ErrorIs(t, inner, tokens.ErrExpired)
	assert.NotErrorIs(t, inner, ErrInvalidKeyBlob)

	var te *tee.Error
	te = &tee.Error{Code: ErrorKeyUserNotAuthenticated.Result(), Origin: tee.OriginTrustedApp}
	assert.Equal(t, tee.Result(0x4B4D001A), te.Code)

	back := FromTEE(&tee.Error{Code: te.Code, Origin: te.Origin})
	assert.ErrorIs(t, back, ErrKeyUserNotAuthenticated)
	var ke *Error
	require.True(t, errors.As(back, &ke))
	assert.Equal(t, ErrorKeyUserNotAuthenticated, ke.Code)

	// GP errors pass unchanged.
	assert.ErrorIs(t, FromTEE(tee.ErrAccessDenied), tee.ErrAccessDenied)
	assert.Nil(t, FromTEE(nil))
	assert.Equal(t, "KM_ERROR_KEY_USER_NOT_AUTHENTICATED", ErrorKeyUserNotAuthenticated.String())
	assert.Equal(t, "keymaster_error(-9999)", ErrorCode(-9999).String())
}
