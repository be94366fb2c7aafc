package boot

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
)

func TestBootTwice(t *testing.T) {
	dir := t.TempDir()
	d1, err := Boot(dir)
	require.NoError(t, err)
	d2, err := Boot(dir)
	require.NoError(t, err)
	assert.NotEqual(t, d1.ID(), d2.ID(), "every boot draws a new boot ID")
	assert.False(t, d1.ID().IsZero())
	assert.LessOrEqual(t, d1.ClockOriginNs(), d2.ClockOriginNs())
	assert.Less(t, d1.Clock().NowMs(), uint64(60_000))

	for _, role := range tee.Roles {
		r1, err := d1.Provision(role)
		require.NoError(t, err)
		r2, err := d2.Provision(role)
		require.NoError(t, err)
		assert.Equal(t, r1.StorageKey, r2.StorageKey, "%s: storage key is stable across boots", role)
		assert.Equal(t, d1.ID(), r1.BootID)
		assert.Equal(t, d1.ClockOriginNs(), r1.ClockOriginNs)
		require.Equal(t, len(r1.Keys), len(r2.Keys))
		for rt, k := range r1.Keys {
			assert.NotEqual(t, k, r2.Keys[rt], "%s: envelope key of %s changes every boot", role, rt)
		}
	}

	other, err := Boot(t.TempDir())
	require.NoError(t, err)
	a, err := d1.Provision(tee.RoleKeymaster)
	require.NoError(t, err)
	b, err := other.Provision(tee.RoleKeymaster)
	require.NoError(t, err)
	assert.NotEqual(t, a.StorageKey, b.StorageKey, "another device has another storage key")
}

func TestProvisionUnknownRole(t *testing.T) {
	rec, err := Provision(testFused(), testBootID(0), 1, "modem")
	require.ErrorIs(t, err, ErrUnknownRole)
	assert.Nil(t, rec.Keys)
}

// TestProvisionedKeysCarryEnvelopes wires Sealers and Openers from the
// records of one boot and checks every manifest route end to end, and that
// an envelope from an earlier boot does not open.
func TestProvisionedKeysCarryEnvelopes(t *testing.T) {
	d1 := NewDevice(testFused(), testBootID(1), 1)
	d2 := NewDevice(testFused(), testBootID(2), 1)
	for _, r := range tee.Routes {
		from, _ := tee.RoleOf(r.From)
		to, _ := tee.RoleOf(r.To)
		typ := envelope.MsgAuthTokenKey
		if r.From == tee.UUIDFingerprint {
			typ = envelope.MsgBioAuthResult
		}
		sendRec, err := d1.Provision(from)
		require.NoError(t, err)
		s, err := envelope.NewSealer(sendRec.UUID, sendRec.Keys, sendRec.Clock())
		require.NoError(t, err)
		env, err := s.Seal(r.To, typ, []byte("secret"))
		require.NoError(t, err)

		recvRec, err := d1.Provision(to)
		require.NoError(t, err)
		o, err := envelope.NewOpener(recvRec.UUID, recvRec.Keys, envelope.NewMemoryGuard())
		require.NoError(t, err)
		m, err := o.Open(env)
		require.NoError(t, err, r.String())
		assert.Equal(t, "secret", string(m.Payload))

		nextBoot, err := d2.Provision(to)
		require.NoError(t, err)
		o2, err := envelope.NewOpener(nextBoot.UUID, nextBoot.Keys, envelope.NewMemoryGuard())
		require.NoError(t, err)
		_, err = o2.Open(env)
		require.ErrorIs(t, err, envelope.ErrAuth, "%s: envelope of an earlier boot", r)
	}
}
