package tatest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
)

type closer struct{ closed bool }

func (c *closer) Close() error { c.closed = true; return nil }

// TestDevice: the auth-token key envelope opens for its recipient only,
// and Start closes what it started when the test ends.
func TestDevice(t *testing.T) {
	d := NewDevice(t, 42)
	assert.Equal(t, uint64(42), d.Clock.NowMs())
	key := Rand(t, 32)
	env := d.KeyEnvelope(t, tee.UUIDGatekeeper, key)
	o, err := envelope.NewOpener(tee.UUIDGatekeeper, d.Keys.For(tee.UUIDGatekeeper), envelope.NewMemoryGuard())
	require.NoError(t, err)
	msg, err := o.Open(env)
	require.NoError(t, err)
	assert.Equal(t, tee.UUIDKeymaster, msg.From)
	assert.Equal(t, envelope.MsgAuthTokenKey, msg.Type)
	assert.Equal(t, key, msg.Payload)

	var c *closer
	t.Run("start", func(t *testing.T) {
		c = Start(t, func(string) (*closer, error) { return &closer{}, nil }, "cfg")
		assert.False(t, c.closed)
	})
	assert.True(t, c.closed)
}
