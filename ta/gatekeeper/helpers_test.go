package gatekeeper

import (
	"context"
	"database/sql"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/store"
	"github.com/fpemu/fpemu/tee/tatest"
	"github.com/fpemu/fpemu/tee/tatest/tafixture"
	"github.com/fpemu/fpemu/tokens"
)

// device is one emulated device boot for tests: a storage key, the
// pairwise envelope keys, Keymaster's sealer and per-boot auth-token key,
// and a database path that survives TA restarts.
type device struct {
	*tatest.Device
	hatKey []byte
}

func newDevice(t testing.TB) *device {
	t.Helper()
	return &device{Device: tatest.NewDevice(t, 1_000_000), hatKey: randBytes(t, tokens.KeySize)}
}

func randBytes(t testing.TB, n int) []byte { return tatest.Rand(t, n) }

func (d *device) config() Config {
	return Config{Config: tafixture.Config(d.Device, tee.UUIDGatekeeper, "gatekeeper.db")}
}

// open starts the TA on the device's database (a TA (re)start).
func (d *device) open(t testing.TB) *TA {
	t.Helper()
	return tatest.Start(t, NewTA, d.config())
}

// keyEnvelope is Keymaster's answer to GET_AUTH_TOKEN_KEY(gatekeeper).
func (d *device) keyEnvelope(t testing.TB) []byte {
	t.Helper()
	return d.KeyEnvelope(t, tee.UUIDGatekeeper, d.hatKey)
}

// ready opens the TA and delivers the auth-token key.
func (d *device) ready(t testing.TB) *TA {
	t.Helper()
	ta := d.open(t)
	require.NoError(t, ta.SetAuthTokenKey(d.keyEnvelope(t)))
	return ta
}

func (d *device) verifier(t testing.TB) tokens.Verifier {
	t.Helper()
	mac, err := tokens.NewMAC(tokens.HMACSHA256, d.hatKey)
	require.NoError(t, err)
	return tokens.NewVerifier(mac)
}

// record reads the failure record of sid straight from the store.
func record(t testing.TB, ta *TA, sid uint64) FailureRecord {
	t.Helper()
	var r FailureRecord
	require.NoError(t, ta.Store.View(context.Background(), func(tx *store.Tx) error {
		var err error
		r, err = loadRecord(tx, sid)
		return err
	}))
	return r
}

func enroll(t testing.TB, ta *TA, uid uint32, pw []byte) gkproto.EnrollResponse {
	t.Helper()
	rsp, err := ta.Enroll(context.Background(), uid, gkproto.EnrollPayload{DesiredPassword: pw})
	require.NoError(t, err)
	require.Equal(t, gkproto.StatusOK, rsp.Status)
	return rsp
}

func verify(t testing.TB, ta *TA, uid uint32, challenge uint64, handle, pw []byte) gkproto.VerifyResponse {
	t.Helper()
	rsp, err := ta.Verify(context.Background(), uid, challenge, gkproto.VerifyPayload{Handle: handle, Password: pw})
	require.NoError(t, err)
	return rsp
}

// failVerifies makes n wrong-password attempts on uid's handle, 1 ms apart
// on the device clock: enough, for n = 5, to start the first retry
// timeout.
func failVerifies(t testing.TB, d *device, ta *TA, uid uint32, handle []byte, n int) {
	t.Helper()
	for range n {
		d.Clock.Advance(time.Millisecond)
		verify(t, ta, uid, 0, handle, []byte("bad"))
	}
}

// eraseFailureRecords edits the database file behind the store's back, as
// an attacker with access to the REE file system would.
func eraseFailureRecords(t testing.TB, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	require.NoError(t, err)
	defer db.Close()
	res, err := db.Exec(`DELETE FROM gk_failure_records`)
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.NotZero(t, n)
}
