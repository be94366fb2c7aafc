package halpb

import (
	"bufio"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/fpemu/fpemu/hal/hidl"
)

var update = flag.Bool("update", false, "rewrite testdata/callbacks.golden")

func sampleCallbacks() []struct {
	name string
	cb   hidl.Callback
} {
	const dev = 0x0102030405060708
	hat := make([]byte, hidl.HATSize)
	for i := range hat {
		hat[i] = byte(i)
	}
	return []struct {
		name string
		cb   hidl.Callback
	}{
		{"onEnrollResult", hidl.OnEnrollResult{DeviceID: dev, FingerID: 4, GroupID: 99, Remaining: 3}},
		{"onAcquired", hidl.OnAcquired{DeviceID: dev, AcquiredInfo: hidl.AcquiredTooFast}},
		{"onAcquiredVendor", hidl.OnAcquired{DeviceID: dev, AcquiredInfo: hidl.AcquiredVendor, VendorCode: 42}},
		{"onAuthenticated", hidl.OnAuthenticated{DeviceID: dev, FingerID: 4, GroupID: 99, Token: hat}},
		{"onAuthenticatedRejected", hidl.OnAuthenticated{DeviceID: dev, GroupID: 99}},
		{"onError", hidl.OnError{DeviceID: dev, Error: hidl.ErrorCanceled}},
		{"onErrorVendor", hidl.OnError{DeviceID: dev, Error: hidl.ErrorVendor, VendorCode: -1}},
		{"onRemoved", hidl.OnRemoved{DeviceID: dev, FingerID: 4, GroupID: 99}},
		{"onEnumerate", hidl.OnEnumerate{DeviceID: dev, GroupID: 99}},
	}
}

func marshal(t testing.TB, m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	require.NoError(t, err)
	return b
}

// TestRoundTrip: every callback survives FromCallback → wire → ToCallback.
func TestRoundTrip(t *testing.T) {
	for _, s := range sampleCallbacks() {
		t.Run(s.name, func(t *testing.T) {
			m, err := FromCallback(s.cb)
			require.NoError(t, err)
			var back ClientCallback
			require.NoError(t, proto.Unmarshal(marshal(t, m), &back))
			got, err := ToCallback(&back)
			require.NoError(t, err)
			if a, ok := got.(hidl.OnAuthenticated); ok && len(a.Token) == 0 {
				a.Token = nil
				got = a
			}
			assert.Equal(t, s.cb, got)
		})
	}
}

// TestGolden pins the wire bytes of each callback message, the contract a
// harness in another language decodes (docs/protocol.md, HAL north API).
func TestGolden(t *testing.T) {
	path := filepath.Join("testdata", "callbacks.golden")
	var sb strings.Builder
	for _, s := range sampleCallbacks() {
		m, err := FromCallback(s.cb)
		require.NoError(t, err)
		fmt.Fprintf(&sb, "%s %x\n", s.name, marshal(t, m))
	}
	fmt.Fprintf(&sb, "notifyRegistered %x\n", marshal(t, Registered(0x0102030405060708)))
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(sb.String()), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), sb.String())

	// Each golden line decodes back to its callback.
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	samples := sampleCallbacks()
	i := 0
	for sc.Scan() {
		name, hx, ok := strings.Cut(sc.Text(), " ")
		require.True(t, ok)
		b, err := hex.DecodeString(hx)
		require.NoError(t, err)
		var m ClientCallback
		require.NoError(t, proto.Unmarshal(b, &m))
		if name == "notifyRegistered" {
			assert.True(t, IsRegistered(&m))
			assert.Equal(t, uint64(0x0102030405060708), m.GetDeviceId())
			continue
		}
		require.Equal(t, samples[i].name, name)
		cb, err := ToCallback(&m)
		require.NoError(t, err)
		assert.Equal(t, samples[i].cb.String(), cb.String())
		i++
	}
	assert.Equal(t, len(samples), i)
}

func TestToCallbackRejects(t *testing.T) {
	tests := []struct {
		name string
		m    *ClientCallback
	}{
		{"empty", &ClientCallback{}},
		{"registered", Registered(1)},
		{"nil payload", &ClientCallback{Callback: &ClientCallback_OnError{}}},
		{"nil message", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cb, err := ToCallback(tt.m)
			assert.ErrorIs(t, err, ErrNoCallback)
			assert.Nil(t, cb)
		})
	}
	assert.False(t, IsRegistered(&ClientCallback{}))
}

// TestEnumsMatchHIDL: the proto enums carry types.hal's numbers.
func TestEnumsMatchHIDL(t *testing.T) {
	assert.EqualValues(t, hidl.SysETIMEDOUT, RequestStatus_SYS_ETIMEDOUT)
	assert.EqualValues(t, hidl.SysUnknown, RequestStatus_SYS_UNKNOWN)
	assert.EqualValues(t, hidl.SysEBUSY, RequestStatus_SYS_EBUSY)
	for v := hidl.ErrorNoError; v <= hidl.ErrorVendor; v++ {
		assert.Equal(t, v.String(), FingerprintError(v).String())
	}
	for v := hidl.AcquiredGood; v <= hidl.AcquiredVendor; v++ {
		assert.Equal(t, v.String(), FingerprintAcquiredInfo(v).String())
	}
	for n, v := range RequestStatus_value {
		assert.Equal(t, n, hidl.RequestStatus(v).String())
	}
}

// FuzzToCallback: arbitrary bytes on the callback stream never panic the
// decoder; whatever decodes re-encodes to the same callback.
func FuzzToCallback(f *testing.F) {
	for _, s := range sampleCallbacks() {
		m, _ := FromCallback(s.cb)
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x12, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m ClientCallback
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		cb, err := ToCallback(&m)
		if err != nil {
			require.Nil(t, cb)
			return
		}
		m2, err := FromCallback(cb)
		require.NoError(t, err)
		cb2, err := ToCallback(m2)
		require.NoError(t, err)
		require.Equal(t, cb.String(), cb2.String())
		require.Equal(t, cb.Device(), cb2.Device())
	})
}
