package attack

import (
	"context"
	"fmt"

	"github.com/fpemu/fpemu/hal"
	"github.com/fpemu/fpemu/hal/halclient"
	"github.com/fpemu/fpemu/sim/drive"
	"github.com/fpemu/fpemu/tee"
)

// The attacks drive fingerprint operations (drive.Fingerprint) either
// through the honest HAL's north API (what a compromised app or framework
// can do) or directly on the fingerprint TA (what a compromised HAL can
// do).

// halDriver is the compromised app's view: it connects to the device's
// HAL and registers a callback.
func (d *device) halDriver(ctx context.Context) (drive.HAL, error) {
	if d.sim.HAL() == nil {
		return drive.HAL{}, fmt.Errorf("no HAL running")
	}
	c, err := halclient.Dial(ctx, hal.SocketPath(d.r.dir))
	if err != nil {
		return drive.HAL{}, err
	}
	cb, err := c.SetNotify(ctx)
	if err != nil {
		c.Close()
		return drive.HAL{}, err
	}
	d.onStop(func() { cb.Close(); _ = c.Close() })
	return drive.HAL{Client: c, Callbacks: cb}, nil
}

// taDriver is the compromised HAL's view: it stops the honest HAL (the
// attacker takes its place) and opens the two sessions a HAL uses, one
// for commands and one pumping NEXT_EVENT.
func (d *device) taDriver(ctx context.Context) (drive.TA, error) {
	if err := d.takeOverHAL(); err != nil {
		return drive.TA{}, fmt.Errorf("stop the honest HAL: %w", err)
	}
	cmd, err := d.session(ctx, tee.RoleFingerprint)
	if err != nil {
		return drive.TA{}, err
	}
	ev, err := d.session(ctx, tee.RoleFingerprint)
	if err != nil {
		return drive.TA{}, err
	}
	return drive.TA{Cmd: cmd, Events: ev}, nil
}
