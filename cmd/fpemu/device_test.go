package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/hal/halclient"
	"github.com/fpemu/fpemu/hal/hidl"
)

// TestDeviceUp runs the real binary as a vendor's setup would: `fpemu
// device up --dir DIR --json`, reads the JSON, drives the HAL it names
// through hal/halclient, sends SIGINT and checks that every process is
// gone and every socket removed.
func TestDeviceUp(t *testing.T) {
	bin := builtFpemu(t)
	dir := shortTempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	up := startDeviceUp(t, ctx, bin, dir)
	info := up.info
	assert.Equal(t, dir, info.Dir)
	assert.NotEmpty(t, info.BootID)
	assert.Equal(t, filepath.Join(dir, "sock", "hal.sock"), info.HAL.Socket)
	assert.Equal(t, filepath.Join(dir, "sock", "fingerprint-sensor.sock"), info.SensorSocket)
	var roles []string
	pids := []int{info.HAL.PID}
	sockets := []string{info.HAL.Socket, info.SensorSocket}
	for _, p := range info.TAs {
		roles = append(roles, p.Role)
		pids = append(pids, p.PID)
		sockets = append(sockets, p.Socket)
		assert.Equal(t, filepath.Join(dir, "sock", p.Role+".sock"), p.Socket)
		assert.NotEmpty(t, p.UUID)
	}
	assert.Subset(t, roles, []string{"keymaster", "gatekeeper", "fingerprint"})
	for _, p := range pids {
		require.NoError(t, syscall.Kill(p, 0), "pid %d runs", p)
	}
	for _, s := range sockets {
		require.FileExists(t, s)
	}

	// The HAL answers.
	c, err := halclient.Dial(ctx, info.HAL.Socket)
	require.NoError(t, err)
	cbs, err := c.SetNotify(ctx)
	require.NoError(t, err)
	assert.NotZero(t, cbs.DeviceID)
	st, err := c.Cancel(ctx)
	require.NoError(t, err)
	require.Equal(t, hidl.SysOK, st)
	cb, err := cbs.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, hidl.OnError{DeviceID: cbs.DeviceID, Error: hidl.ErrorCanceled}, cb)

	// SIGINT stops everything.
	up.interrupt(t, ctx)
	// The HAL's callback stream ends with the HAL.
	_, err = cbs.Next(ctx)
	assert.ErrorIs(t, err, halclient.ErrStreamEnded)
	c.Close()
	for _, p := range pids {
		assert.ErrorIs(t, syscall.Kill(p, 0), syscall.ESRCH, "pid %d is gone", p)
	}
	for _, s := range sockets {
		assert.NoFileExists(t, s)
	}
	assert.Contains(t, up.Stderr(), `"component":"hal"`)
	assert.NotContains(t, up.Stderr(), `"level":"error"`)
}

// TestDeviceUpTable: the human output lists every process.
func TestDeviceUpTable(t *testing.T) {
	var b bytes.Buffer
	info := DeviceInfo{
		Dir: "/d", BootID: "b1",
		HAL:          &DeviceProcess{Role: "hal", PID: 9, Socket: "/d/sock/hal.sock"},
		TAs:          []DeviceProcess{{Role: "keymaster", PID: 7, Socket: "/d/sock/keymaster.sock"}},
		SensorSocket: "/d/sock/fingerprint-sensor.sock",
	}
	require.NoError(t, printDevice(&b, info, false))
	out := b.String()
	for _, want := range []string{"keymaster  7    /d/sock/keymaster.sock", "hal        9    /d/sock/hal.sock", "sensor     -    /d/sock/fingerprint-sensor.sock"} {
		assert.Contains(t, out, want)
	}
	b.Reset()
	require.NoError(t, printDevice(&b, info, true))
	assert.Equal(t, 1, strings.Count(b.String(), "\n"))
	var back DeviceInfo
	require.NoError(t, json.Unmarshal(b.Bytes(), &back))
	assert.Equal(t, info, back)
}

// TestDeviceUpUsage: bad invocations are usage errors; `fpemu hal` by hand
// without TAs fails at run time.
func TestDeviceUpUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"device", "up"}, exitUsage, `required flag(s) "dir" not set`},
		{[]string{"device", "up", "--dir", "x", "--restarts", "-1"}, exitUsage, "--restarts"},
		{[]string{"device", "up", "--dir", "x", "--log-level", "loud"}, exitUsage, "--log-level"},
		{[]string{"device", "up", "--dir", "x", "--durability", "fsync"}, exitUsage, "--durability"},
		{[]string{"hal"}, exitUsage, `required flag(s) "dir" not set`},
		{[]string{"hal", "--dir", shortTempDir(t), "--ready-fd", "1"}, exitUsage, "--ready-fd"},
		{[]string{"hal", "--dir", shortTempDir(t)}, exitFailure, "connect to fingerprint TA"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tt.args, strings.NewReader(""), &out, &errb)
			assert.Equal(t, tt.code, code, errb.String())
			assert.Contains(t, errb.String(), tt.want)
		})
	}
}
