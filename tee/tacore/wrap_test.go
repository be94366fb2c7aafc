package tacore

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWrapf(t *testing.T) {
	require.NoError(t, Wrapf(nil, "user %d", 1))
	cause := errors.New("cause")
	err := Wrapf(cause, "user %d", 1)
	require.ErrorIs(t, err, cause)
	require.EqualError(t, err, "user 1: cause")
}
