package sensor

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
	"github.com/fpemu/fpemu/tee"
)

// FuzzControlInvoke drives the sensor-control endpoint's command dispatcher
// (parameter types, acquired/fault codes, vendor codes, latency, sample
// bytes) with arbitrary command ids, parameter types, values and bytes:
// every call ends with TEEC_SUCCESS or a TEEC result (never a panic),
// leaves the parameter types alone (rpc.TASession contract), queues
// nothing when it fails, and leaves the endpoint usable.
func FuzzControlInvoke(f *testing.F) {
	// sensorproto's golden sample.
	goldenSample := sensorproto.Sample{Width: 200, Height: 180, Minutiae: []sensorproto.Minutia{
		{X: 10.25, Y: 20.5, Angle: math.Pi / 2, Kind: sensorproto.RidgeEnding, Quality: 80},
		{X: 199.75, Y: 0, Angle: 0, Kind: sensorproto.Bifurcation, Quality: 0},
	}}
	sample, err := sensorproto.MarshalSample(goldenSample)
	require.NoError(f, err)
	// Seeds: types are indexes into kinds below.
	const vin, vout, in = 1, 2, 4
	f.Add(uint32(sensorproto.CmdPresent), []byte{in}, uint32(0), uint32(0), sample)
	f.Add(uint32(sensorproto.CmdAcquired), []byte{vin}, uint32(AcquiredVendor), uint32(42), []byte(nil))
	f.Add(uint32(sensorproto.CmdAcquired), []byte{vin}, uint32(7), uint32(0), []byte(nil))
	f.Add(uint32(sensorproto.CmdNoFinger), []byte{}, uint32(0), uint32(0), []byte(nil))
	f.Add(uint32(sensorproto.CmdFault), []byte{vin}, uint32(ErrorVendor), uint32(9), []byte(nil))
	f.Add(uint32(sensorproto.CmdSetFault), []byte{vin}, uint32(ErrorHWUnavailable), uint32(0), []byte(nil))
	f.Add(uint32(sensorproto.CmdSetFault), []byte{vin}, uint32(0), uint32(0), []byte(nil))
	f.Add(uint32(sensorproto.CmdSetLatency), []byte{vin}, uint32(250), uint32(0), []byte(nil))
	f.Add(uint32(sensorproto.CmdReset), []byte{}, uint32(0), uint32(0), []byte(nil))
	f.Add(uint32(sensorproto.CmdStatus), []byte{vout, vout, vout}, uint32(0), uint32(0), []byte(nil))
	f.Add(uint32(0xFFFF), []byte{}, uint32(0), uint32(0), []byte(nil))
	kinds := []tee.ParamType{tee.ParamNone, tee.ParamValueInput, tee.ParamValueOutput, tee.ParamValueInout,
		tee.ParamMemrefInput, tee.ParamMemrefOutput, tee.ParamMemrefInout}
	f.Fuzz(func(t *testing.T, cmd uint32, types []byte, a, b uint32, data []byte) {
		s := New()
		c := NewControlTA(s)
		sess, err := c.OpenSession(context.Background(), &tee.Params{})
		require.NoError(t, err)
		defer sess.Close()
		var p tee.Params
		for i := range 4 {
			var k tee.ParamType
			if i < len(types) {
				k = kinds[int(types[i])%len(kinds)]
			}
			p[i] = tee.Param{Type: k, A: a, B: b}
			if k.IsMemref() {
				p[i].Data, p[i].Size = data, uint32(len(data))
				if k == tee.ParamMemrefOutput {
					p[i].Data, p[i].Size = nil, b%64
				}
			}
		}
		types4 := p.Types()
		err = sess.Invoke(context.Background(), cmd, &p)
		require.Equal(t, types4, p.Types(), "the endpoint never changes parameter types")
		if err != nil {
			require.NotEqual(t, tee.Success, tee.ResultOf(err))
			require.Zero(t, s.Status().Queued, "nothing queued on error")
		}
		s.Reset()
		require.NoError(t, s.Present(goldenSample), "the sensor stays usable")
		require.Equal(t, 1, s.Status().Queued)
	})
}
