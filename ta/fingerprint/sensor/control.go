package sensor

import (
	"context"
	"errors"
	"time"

	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// ControlTA serves the sensor-control endpoint for s (an rpc.TA).
type ControlTA struct{ s *Sensor }

// NewControlTA returns the control endpoint of s.
func NewControlTA(s *Sensor) *ControlTA { return &ControlTA{s: s} }

var _ rpc.TA = (*ControlTA)(nil)

// OpenSession implements rpc.TA; sessions take no parameters.
func (c *ControlTA) OpenSession(_ context.Context, p *tee.Params) (rpc.TASession, error) {
	if err := p.Expect(); err != nil {
		return nil, err
	}
	return controlSession{c.s}, nil
}

type controlSession struct{ s *Sensor }

func (controlSession) Close() {}

// Invoke implements rpc.TASession. Invalid codes or samples are
// TEEC_ERROR_BAD_PARAMETERS / TEEC_ERROR_BAD_FORMAT; a full queue is
// TEEC_ERROR_OUT_OF_MEMORY; nothing is queued on error.
func (c controlSession) Invoke(_ context.Context, cmd uint32, p *tee.Params) error {
	vin := []tee.ParamType{tee.ParamValueInput}
	switch sensorproto.Command(cmd) {
	case sensorproto.CmdPresent:
		if err := p.Expect(tee.ParamMemrefInput); err != nil {
			return err
		}
		sample, err := sensorproto.ParseSample(p[0].Data)
		if err != nil {
			return tee.Errorf(tee.ResultBadFormat, tee.OriginTrustedApp, "%v", err)
		}
		return pushErr(c.s.Present(sample))
	case sensorproto.CmdAcquired:
		if err := p.Expect(vin...); err != nil {
			return err
		}
		return pushErr(c.s.Push(Item{Kind: KindAcquired, Code: int32(p[0].A), Vendor: int32(p[0].B)}))
	case sensorproto.CmdNoFinger:
		if err := p.Expect(); err != nil {
			return err
		}
		return pushErr(c.s.Push(Item{Kind: KindNoFinger}))
	case sensorproto.CmdFault:
		if err := p.Expect(vin...); err != nil {
			return err
		}
		return pushErr(c.s.Push(Item{Kind: KindFault, Code: int32(p[0].A), Vendor: int32(p[0].B)}))
	case sensorproto.CmdSetFault:
		if err := p.Expect(vin...); err != nil {
			return err
		}
		if p[0].A == 0 && p[0].B == 0 {
			c.s.ClearFault()
			return nil
		}
		return pushErr(c.s.SetFault(int32(p[0].A), int32(p[0].B)))
	case sensorproto.CmdSetLatency:
		if err := p.Expect(vin...); err != nil {
			return err
		}
		return pushErr(c.s.SetLatency(time.Duration(p[0].A) * time.Millisecond))
	case sensorproto.CmdReset:
		if err := p.Expect(); err != nil {
			return err
		}
		c.s.Reset()
		return nil
	case sensorproto.CmdStatus:
		if err := p.Expect(tee.ParamValueOutput, tee.ParamValueOutput, tee.ParamValueOutput); err != nil {
			return err
		}
		st := c.s.Status()
		p.SetValue(0, uint32(st.Queued), uint32(st.Waiting))
		p.SetValue(1, uint32(st.Captures), uint32(st.Captures>>32))
		var fault uint32
		if st.Fault != nil {
			fault = uint32(st.Fault.Code)
		}
		p.SetValue(2, uint32(st.Latency/time.Millisecond), fault)
		return nil
	}
	return tee.Errorf(tee.ResultNotImplemented, tee.OriginTrustedApp, "sensor: unknown command 0x%x", cmd)
}

func pushErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrQueueFull):
		return tee.Errorf(tee.ResultOutOfMemory, tee.OriginTrustedApp, "%v", err)
	case errors.Is(err, ErrInvalid):
		return tee.Errorf(tee.ResultBadParameters, tee.OriginTrustedApp, "%v", err)
	}
	return err
}
