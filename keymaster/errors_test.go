package keymaster

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tokens"
)

// TestTEEErrorMapping: a Keymaster error leaves the TA as its ResultBase
// code, a GP error passes unchanged, anything else is GENERIC; the client's
// FromTEE turns the code back into the Keymaster error.
func TestTEEErrorMapping(t *testing.T) {
	inner := &kmproto.Error{Code: kmproto.ErrorKeyUserNotAuthenticated, Err: tokens.ErrExpired}
	wire := teeError(fmt.Errorf("wrapped: %w", inner))
	var te *tee.Error
	require.True(t, errors.As(wire, &te))
	assert.Equal(t, tee.Result(0x4B4D001A), te.Code)
	assert.Equal(t, tee.OriginTrustedApp, te.Origin)
	assert.ErrorIs(t, kmproto.FromTEE(&tee.Error{Code: te.Code, Origin: te.Origin}), kmproto.ErrKeyUserNotAuthenticated)

	assert.ErrorIs(t, teeError(tee.ErrAccessDenied), tee.ErrAccessDenied)
	assert.Equal(t, tee.ResultGeneric, tee.ResultOf(teeError(errors.New("boom"))))
	assert.Nil(t, teeError(nil))
}
