package tacore

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
)

func TestKeyInstalled(t *testing.T) {
	f := newFixture(t)
	c := f.open(t)
	env, err := f.km.Seal(tee.UUIDGatekeeper, envelope.MsgAuthTokenKey, f.key)
	require.NoError(t, err)
	require.NoError(t, c.KeyInstalled(c.SetAuthTokenKey(env)))
	err = c.KeyInstalled(c.SetAuthTokenKey([]byte("not an envelope")))
	require.Error(t, err)
	require.NotEqual(t, tee.ResultGeneric, tee.ResultOf(err), "a refused envelope is a typed TEEC result: %v", err)
}
