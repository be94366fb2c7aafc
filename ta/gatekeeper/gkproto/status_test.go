package gkproto

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStatusValuesAreAOSP(t *testing.T) {
	assert.Equal(t, Status(0), StatusOK)
	assert.Equal(t, Status(1), StatusReenroll)
	assert.Equal(t, Status(-1), ErrorGeneralFailure)
	assert.Equal(t, Status(-2), ErrorRetryTimeout)
	assert.Equal(t, Status(-3), ErrorNotImplemented)
	assert.Equal(t, "ERROR_RETRY_TIMEOUT", ErrorRetryTimeout.String())
	assert.Equal(t, "gatekeeper_status(7)", Status(7).String())
}

func TestStatusErr(t *testing.T) {
	require.NoError(t, StatusOK.Err(0))
	require.NoError(t, StatusReenroll.Err(0))
	require.ErrorIs(t, ErrorGeneralFailure.Err(0), ErrGeneralFailure)
	require.ErrorIs(t, ErrorNotImplemented.Err(0), ErrNotImplemented)
	err := ErrorRetryTimeout.Err(1500)
	require.ErrorIs(t, err, ErrRetryTimeout)
	var re *RetryError
	require.True(t, errors.As(err, &re))
	assert.Equal(t, 1500*time.Millisecond, re.Timeout)
	require.ErrorIs(t, Status(9).Err(0), ErrUnknownStatus)
}
