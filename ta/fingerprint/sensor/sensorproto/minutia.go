package sensorproto

import (
	"errors"
	"fmt"
	"math"
)

// Kind is a minutia type. The values are those of the ISO/IEC 19794-2:2005
// §7.4.1.1 minutia type field (01 ridge ending, 10 bifurcation); 0, "other",
// is not produced by the virtual sensor and is rejected.
type Kind uint8

// Minutia kinds.
const (
	RidgeEnding Kind = 1 // ISO/IEC 19794-2 type 01
	Bifurcation Kind = 2 // ISO/IEC 19794-2 type 10
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case RidgeEnding:
		return "ridge-ending"
	case Bifurcation:
		return "bifurcation"
	default:
		return fmt.Sprintf("Kind(%d)", uint8(k))
	}
}

// Valid reports whether k is a kind this package knows.
func (k Kind) Valid() bool { return k == RidgeEnding || k == Bifurcation }

// Minutia is one feature point. Coordinates are pixels of a 500 ppi image
// (origin top-left, y down), the angle is the ridge direction at the minutia
// in radians in [0, 2π), measured counter-clockwise from the x axis in the
// (x, y) frame. Quality is 0..100 as in ISO/IEC 19794-2 §7.4.1.4
// (0 = unknown/lowest).
type Minutia struct {
	X, Y    float64
	Angle   float64
	Kind    Kind
	Quality uint8
}

// Bounds that keep samples and templates small enough for a TA.
const (
	// MaxSensorSize is the largest sensor side, in pixels, a Sample may
	// declare.
	MaxSensorSize = 2048
	// MaxSampleMinutiae is the most minutiae one Sample may carry.
	MaxSampleMinutiae = 255
	// MaxQuality is the highest minutia quality (ISO/IEC 19794-2 §7.4.1.4).
	MaxQuality = 100
	// MinUsableMinutiae is the fewest minutiae a sample needs to be
	// matched or enrolled: the fingerprint TA answers a sample with fewer
	// with ACQUIRED(INSUFFICIENT) only (docs/protocol.md §9.10).
	MinUsableMinutiae = 8
)

// Sample is one capture as the sensor hands it to the TA: the minutiae
// extracted from the image, in the sensor's pixel frame, and the size of the
// sensor window they were captured in (which bounds the area the probe can
// possibly overlap with a template).
type Sample struct {
	Width, Height int
	Minutiae      []Minutia
}

// ErrInvalidSample is returned (wrapped in a *SampleError) for a sample that
// violates the bounds of this package.
var ErrInvalidSample = errors.New("matcher: invalid sample")

// SampleError says which minutia or field of a sample is invalid. It
// matches ErrInvalidSample with errors.Is.
type SampleError struct {
	Index  int // minutia index, or -1 for a sample-level field
	Reason string
}

func (e *SampleError) Error() string {
	if e.Index < 0 {
		return "matcher: invalid sample: " + e.Reason
	}
	return fmt.Sprintf("matcher: invalid sample: minutia %d: %s", e.Index, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidSample) true.
func (e *SampleError) Is(target error) bool { return target == ErrInvalidSample }

// Validate checks a sample against the package bounds: a window of
// 1..MaxSensorSize pixels per side, at most MaxSampleMinutiae minutiae, each
// inside the window with a finite angle in [0, 2π), a known kind and a
// quality of at most MaxQuality.
func (s Sample) Validate() error {
	if s.Width <= 0 || s.Height <= 0 || s.Width > MaxSensorSize || s.Height > MaxSensorSize {
		return &SampleError{Index: -1, Reason: fmt.Sprintf("window %dx%d outside 1..%d", s.Width, s.Height, MaxSensorSize)}
	}
	if len(s.Minutiae) > MaxSampleMinutiae {
		return &SampleError{Index: -1, Reason: fmt.Sprintf("%d minutiae, at most %d", len(s.Minutiae), MaxSampleMinutiae)}
	}
	for i, m := range s.Minutiae {
		switch {
		case !(m.X >= 0 && m.X < float64(s.Width) && m.Y >= 0 && m.Y < float64(s.Height)):
			return &SampleError{Index: i, Reason: "position outside the sensor window"}
		case !(m.Angle >= 0 && m.Angle < 2*math.Pi):
			return &SampleError{Index: i, Reason: "angle outside [0, 2π)"}
		case !m.Kind.Valid():
			return &SampleError{Index: i, Reason: "unknown kind " + m.Kind.String()}
		case m.Quality > MaxQuality:
			return &SampleError{Index: i, Reason: fmt.Sprintf("quality %d above %d", m.Quality, MaxQuality)}
		}
	}
	return nil
}

// NormAngle maps any finite angle to [0, 2π).
func NormAngle(a float64) float64 {
	if a >= 0 && a < 2*math.Pi {
		return a
	}
	if a >= -2*math.Pi && a < 4*math.Pi { // the common case: one wrap
		if a < 0 {
			a += 2 * math.Pi
		} else {
			a -= 2 * math.Pi
		}
		if a >= 0 && a < 2*math.Pi {
			return a
		}
	}
	a = math.Mod(a, 2*math.Pi)
	if a < 0 {
		a += 2 * math.Pi
	}
	if a >= 2*math.Pi { // -tiny + 2π rounds to 2π
		a = 0
	}
	return a
}
