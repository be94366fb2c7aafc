package matcher

import (
	"math"

	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
)

// The sample vocabulary — what the virtual sensor hands the TA — is the
// sensor-control protocol's (package sensorproto, docs/protocol.md §9.10);
// the matcher compares those samples, under the same names.
type (
	// Kind is sensorproto.Kind: a minutia type (ISO/IEC 19794-2:2005
	// §7.4.1.1).
	Kind = sensorproto.Kind
	// Minutia is sensorproto.Minutia: one feature point.
	Minutia = sensorproto.Minutia
	// Sample is sensorproto.Sample: one capture as the sensor hands it to
	// the TA.
	Sample = sensorproto.Sample
	// SampleError is sensorproto.SampleError.
	SampleError = sensorproto.SampleError
)

// Minutia kinds (sensorproto's).
const (
	RidgeEnding = sensorproto.RidgeEnding
	Bifurcation = sensorproto.Bifurcation
)

// Bounds of samples (sensorproto's).
const (
	MaxSensorSize     = sensorproto.MaxSensorSize
	MaxSampleMinutiae = sensorproto.MaxSampleMinutiae
	MaxQuality        = sensorproto.MaxQuality
)

// ErrInvalidSample is sensorproto.ErrInvalidSample.
var ErrInvalidSample = sensorproto.ErrInvalidSample

// NormAngle maps any finite angle to [0, 2π) (sensorproto.NormAngle).
func NormAngle(a float64) float64 { return sensorproto.NormAngle(a) }

// angleDiff is the absolute difference of two angles, in [0, π].
func angleDiff(a, b float64) float64 {
	d := math.Abs(a - b)
	if d > math.Pi {
		d = 2*math.Pi - d
	}
	return d
}
