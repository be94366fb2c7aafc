package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
)

// TestSensorHelper drives a device's virtual sensor through `fpemu sensor`:
// synthetic fingers by seed and touch, a sample file, no-finger, faults,
// status and reset, each checked against the sensor's own STATUS.
func TestSensorHelper(t *testing.T) {
	ctx := testkit.Context(t, time.Minute)
	dir := shortTempDir(t)
	bootTAs(t, ctx, dir, tee.RoleKeymaster, tee.RoleFingerprint)
	sensor := []string{"--device", dir}

	num := func(obj map[string]any, k string) int64 {
		t.Helper()
		n, ok := obj[k].(json.Number)
		require.True(t, ok, "%s in %v", k, obj)
		v, err := n.Int64()
		require.NoError(t, err)
		return v
	}

	code, obj, stderr := helperJSON(t, "", append([]string{"sensor", "present", "--seed", "7"}, sensor...)...)
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, "finger", obj["presented"])
	assert.EqualValues(t, 1, num(obj, "queued"))
	assert.Positive(t, num(obj, "minutiae"))
	assert.EqualValues(t, 200, num(obj, "width"))

	// Deterministic in seed and touch; placement flags override the touch.
	_, a, _ := helperJSON(t, "", append([]string{"sensor", "present", "--seed", "7", "--touch", "enroll:3"}, sensor...)...)
	_, b, _ := helperJSON(t, "", append([]string{"sensor", "present", "--seed", "7", "--touch", "enroll:3"}, sensor...)...)
	assert.Equal(t, a["placement"], b["placement"])
	assert.Equal(t, a["minutiae"], b["minutiae"])
	code, obj, stderr = helperJSON(t, "", append([]string{"sensor", "present", "--seed", "7", "--touch", "probe:2", "--quality", "0.25", "--area", "0.7"}, sensor...)...)
	require.Equal(t, exitOK, code, stderr)
	pl := obj["placement"].(map[string]any)
	assert.Equal(t, json.Number("0.25"), pl["quality"])
	assert.Equal(t, json.Number("0.7"), pl["area"])
	assert.EqualValues(t, 4, num(obj, "queued"))

	// A sample file (the protocol's hex test vector), and a malformed one
	// the TA refuses: exit 1, refused.
	vector, err := filepath.Abs(filepath.Join("..", "..", "ta", "fingerprint", "sensor", "sensorproto", "testdata", "sample_v1.hex"))
	require.NoError(t, err)
	r := fpemu(t, "", append([]string{"sensor", "present", "--sample", vector}, sensor...)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "presented sample")
	bad := filepath.Join(t.TempDir(), "bad.hex")
	require.NoError(t, os.WriteFile(bad, []byte("46505341 01 01 00c8 00c8 # one minutia missing\n"), 0o600))
	code, obj, stderr = helperJSON(t, "", append([]string{"sensor", "present", "--sample", bad}, sensor...)...)
	assert.Equal(t, exitFailure, code, stderr)
	assert.Equal(t, "refused", obj["error"])
	assert.Contains(t, stderr, "TEEC_ERROR_BAD_FORMAT")
	r = fpemu(t, "", append([]string{"sensor", "present", "--no-finger"}, sensor...)...)
	require.Equal(t, exitOK, r.code, r.stderr)

	// Faults: once, sticky with a vendor code, refused, cleared.
	r = fpemu(t, "", append([]string{"sensor", "fault", "hw-unavailable"}, sensor...)...)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "ERROR_HW_UNAVAILABLE")
	code, obj, stderr = helperJSON(t, "", append([]string{"sensor", "fault", "ERROR_VENDOR", "--vendor", "42", "--sticky"}, sensor...)...)
	require.Equal(t, exitOK, code, stderr)
	assert.EqualValues(t, 8, num(obj, "fault_error"))
	code, obj, stderr = helperJSON(t, "", append([]string{"sensor", "status"}, sensor...)...)
	require.Equal(t, exitOK, code, stderr)
	assert.EqualValues(t, 7, num(obj, "queued"), "4 fingers, a sample, no-finger, a fault")
	assert.EqualValues(t, 8, num(obj, "fault_error"))
	assert.Equal(t, "ERROR_VENDOR", obj["fault_error_name"])
	assert.EqualValues(t, 0, num(obj, "waiting"))
	code, obj, stderr = helperJSON(t, "", append([]string{"sensor", "fault", "lockout"}, sensor...)...)
	assert.Equal(t, exitFailure, code, "a lockout is the TA's decision, not a sensor fault: %s", stderr)
	assert.Equal(t, "refused", obj["error"])
	r = fpemu(t, "", append([]string{"sensor", "fault", "--clear"}, sensor...)...)
	require.Equal(t, exitOK, r.code, r.stderr)

	// reset empties the queue; status in text.
	code, obj, stderr = helperJSON(t, "", append([]string{"sensor", "reset"}, sensor...)...)
	require.Equal(t, exitOK, code, stderr)
	assert.EqualValues(t, 0, num(obj, "queued"))
	assert.EqualValues(t, 0, num(obj, "fault_error"))
	r = fpemu(t, "", "sensor", "status", "--socket", device.SensorSocketPath(dir))
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "queued 0\nwaiting 0\ncaptures 0\nlatency_ms 0\nfault_error 0 (ERROR_NO_ERROR)\n", r.stdout)
}

// TestSensorHelperUsage: bad invocations are exit 2 before anything is
// sent.
func TestSensorHelperUsage(t *testing.T) {
	dir := shortTempDir(t)
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"present", "--device", dir}, "[seed sample no-finger] is required"},
		{[]string{"present", "--device", dir, "--seed", "1", "--sample", "x"}, "none of the others"},
		{[]string{"present", "--device", dir, "--sample", "x", "--quality", "1"}, "none of the others"},
		{[]string{"present", "--device", dir, "--seed", "1", "--touch", "sideways"}, "want nominal, enroll:K or probe:N"},
		{[]string{"present", "--device", dir, "--seed", "1", "--touch", "enroll:x"}, "want nominal"},
		{[]string{"present", "--device", dir, "--seed", "1", "--area", "2"}, "placement: finger: invalid placement: area 2"},
		{[]string{"present", "--device", dir, "--sample", filepath.Join(dir, "none")}, "--sample"},
		{[]string{"fault", "--device", dir}, "give an ERROR"},
		{[]string{"fault", "--device", dir, "sneeze"}, "want a FingerprintError name"},
		{[]string{"fault", "--device", dir, "--clear", "timeout"}, "--clear takes no ERROR"},
		{[]string{"fault", "--device", dir, "--clear", "--sticky"}, "--clear takes no --sticky"},
		{[]string{"status"}, "[device socket] is required"},
		{[]string{"reset", "--device", dir, "now"}, "unknown command \"now\""},
		{[]string{"NOSUCH", "--help"}, "unknown command \"NOSUCH\" for \"fpemu sensor\""},
	} {
		t.Run(tc.args[0]+" "+tc.err, func(t *testing.T) {
			r := fpemu(t, "", append([]string{"sensor"}, tc.args...)...)
			require.Equal(t, exitUsage, r.code, r.stderr)
			assert.Contains(t, r.stderr, tc.err)
		})
	}
}

func TestParseFaultCode(t *testing.T) {
	for in, want := range map[string]int32{"hw-unavailable": 1, "HW_UNAVAILABLE": 1, "ERROR_UNABLE_TO_PROCESS": 2,
		"timeout": 3, "vendor": 8, "8": 8, "0x2": 2, "Lockout-Permanent": 9} {
		got, err := parseFaultCode(in)
		require.NoError(t, err, in)
		assert.EqualValues(t, want, got, in)
	}
	_, err := parseFaultCode("no_error")
	assert.Error(t, err)
}
