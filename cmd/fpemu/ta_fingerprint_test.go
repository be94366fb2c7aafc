package main

import (
	"bytes"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
)

// TestFingerprintTAEntry: `fpemu ta fingerprint` refuses to run by hand
// (exit 2) and, started by the launcher, serves the TA on
// sock/fingerprint.sock — holding the relayed auth-token key — and the
// sensor control on sock/fingerprint-sensor.sock.
func TestFingerprintTAEntry(t *testing.T) {
	dir := shortTempDir(t)
	ctx := testkit.Context(t, 60*time.Second)

	cmd := fpemuCmd(ctx, "ta", "fingerprint", "--dir", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var ee *exec.ExitError
	require.True(t, errors.As(cmd.Run(), &ee))
	assert.Equal(t, exitUsage, ee.ExitCode(), stderr.String())
	assert.Contains(t, stderr.String(), "not started by the fpemu launcher")

	d := bootTAs(t, ctx, dir, tee.RoleKeymaster, tee.RoleFingerprint)
	fp := openSession(t, ctx, d, tee.RoleFingerprint)
	st, err := fpproto.SetActiveGroup{GID: 0, Path: t.TempDir()}.Execute(ctx, fp)
	require.NoError(t, err)
	require.Equal(t, fpproto.SysOK, st)
	// An all-zero HAT is refused as a HAT (not for a missing key): the
	// launcher relayed Keymaster's key.
	_, err = fpproto.PreEnroll{}.Execute(ctx, fp)
	require.NoError(t, err)
	st, err = fpproto.Enroll{HAT: make([]byte, 69), GID: 0}.Execute(ctx, fp)
	require.NoError(t, err)
	require.Equal(t, fpproto.SysOK, st)
	e, _, err := fpproto.NextEvent{Wait: 10 * time.Second}.Execute(ctx, fp)
	require.NoError(t, err)
	assert.Equal(t, fpproto.Event{Type: fpproto.MsgError, Error: fpproto.ErrorUnableToProcess,
		Detail: uint32(fpproto.ReasonHATMAC)}, e)

	sen, err := d.OpenSensor(ctx)
	require.NoError(t, err)
	defer sen.Close()
	require.NoError(t, sen.NoFinger(ctx))
	s, err := sen.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, s.Queued)
}
