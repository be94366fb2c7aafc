package device

import (
	"context"
	"math/rand/v2"
	"path/filepath"

	"github.com/fpemu/fpemu/sim/finger"
	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/devdir"
	"github.com/fpemu/fpemu/tee/rpc"
)

// SensorSocketPath is the fingerprint TA's sensor-control socket in device
// directory dir: DIR/sock/fingerprint-sensor.sock.
func SensorSocketPath(dir string) string {
	return filepath.Join(dir, devdir.SockDirName, sensorproto.SocketName+".sock")
}

// SensorSocketPath returns the device's sensor-control socket.
func (d *Device) SensorSocketPath() string { return SensorSocketPath(d.cfg.Dir) }

// Sensor is a session on a fingerprint TA's sensor-control endpoint: the
// test bench's hand on the virtual sensor (the REE HAL has none). Close
// closes its connection.
type Sensor struct {
	sensorproto.Client
	client *rpc.Client
}

// Close closes the session and its connection.
func (s *Sensor) Close() error { return s.client.Close() }

// DialSensor opens a session on the sensor-control endpoint at socketPath
// (SensorSocketPath of a device directory).
func DialSensor(ctx context.Context, socketPath string) (*Sensor, error) {
	c, err := rpc.Dial(ctx, socketPath)
	if err != nil {
		return nil, err
	}
	s, err := c.OpenSession(ctx, sensorproto.UUID, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &Sensor{Client: sensorproto.Client{Invoker: s}, client: c}, nil
}

// OpenSensor opens a session on the device's sensor-control endpoint,
// served by the device's fingerprint TA process (SO_PEERCRED pid, as
// Dial checks).
func (d *Device) OpenSensor(ctx context.Context) (*Sensor, error) {
	nc, err := d.dialOwn(ctx, tee.RoleFingerprint, d.SensorSocketPath())
	if err != nil {
		return nil, err
	}
	c := rpc.NewClient(nc)
	s, err := c.OpenSession(ctx, sensorproto.UUID, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &Sensor{Client: sensorproto.Client{Invoker: s}, client: c}, nil
}

// Touch renders finger f placed on the sensor with p (sim/finger: the
// synthetic impression with displacement, rotation, partial area,
// pressure and quality noise) and presents the extracted sample. Only the
// sample crosses to the TA, never the finger's seed.
func (s *Sensor) Touch(ctx context.Context, f *finger.Finger, p finger.Placement) error {
	sample, err := f.Impress(finger.DefaultSensor, p)
	if err != nil {
		return err
	}
	return s.Present(ctx, sample)
}

// EnrollTouches presents n enrollment touches of f (finger.EnrollPlacement:
// the first centred, the others around it), deterministic in f's seed.
func (s *Sensor) EnrollTouches(ctx context.Context, f *finger.Finger, n int) error {
	enroll, _ := finger.Touches(f, n, 0)
	for _, p := range enroll {
		if err := s.Touch(ctx, f, p); err != nil {
			return err
		}
	}
	return nil
}

// ProbeTouch presents one everyday touch of f (finger.ProbePlacement) drawn
// from noise.
func (s *Sensor) ProbeTouch(ctx context.Context, f *finger.Finger, noise uint64) error {
	r := rand.New(rand.NewPCG(f.Seed, noise))
	return s.Touch(ctx, f, finger.ProbePlacement(r))
}
