package sensorproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Sample wire format, version 1, as PRESENT carries it (all integers
// big-endian):
//
//	off  size  field
//	0    4     magic "FPSA"
//	4    1     version = 1
//	5    1     minutia count N, 0..MaxSampleMinutiae
//	6    2     window width, 1..MaxSensorSize px
//	8    2     window height, 1..MaxSensorSize px
//	10   8*N   minutiae: x uint16, y uint16 (¼ px, inside the window),
//	           angle uint16 (2π/65536), kind uint8 (1 ridge ending,
//	           2 bifurcation), quality uint8 (0..100)
//
// The encoding is canonical: ParseSample(b) re-encodes to b. MarshalSample
// rounds coordinates down to the ¼ px grid, so an encoded sample always
// stays inside its window, and angles to the nearest step (2π wraps to 0).
const (
	sampleMagic      = "FPSA"
	sampleVersion    = 1
	sampleHeaderSize = 10
	sampleMinutia    = 8
	// MaxSampleSize is the largest encoded sample.
	MaxSampleSize = sampleHeaderSize + MaxSampleMinutiae*sampleMinutia
	coordScale    = 4
	angleUnits    = 65536
)

// ErrMalformedSample is wrapped by ParseSample for bytes that are not a
// canonical version-1 sample, and by MarshalSample for an invalid sample.
var ErrMalformedSample = errors.New("sensor: malformed sample")

// MarshalSample encodes s. It fails (ErrMalformedSample) for a sample that
// does not pass Sample.Validate.
func MarshalSample(s Sample) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedSample, err)
	}
	b := make([]byte, sampleHeaderSize, sampleHeaderSize+len(s.Minutiae)*sampleMinutia)
	copy(b, sampleMagic)
	b[4] = sampleVersion
	b[5] = byte(len(s.Minutiae))
	binary.BigEndian.PutUint16(b[6:], uint16(s.Width))
	binary.BigEndian.PutUint16(b[8:], uint16(s.Height))
	for _, m := range s.Minutiae {
		a := uint32(math.Round(m.Angle*angleUnits/(2*math.Pi))) % angleUnits
		b = binary.BigEndian.AppendUint16(b, uint16(math.Floor(m.X*coordScale)))
		b = binary.BigEndian.AppendUint16(b, uint16(math.Floor(m.Y*coordScale)))
		b = binary.BigEndian.AppendUint16(b, uint16(a))
		b = append(b, byte(m.Kind), m.Quality)
	}
	return b, nil
}

// ParseSample decodes a sample strictly: magic, version, exact length, a
// window within bounds, every minutia inside it with a known kind and a
// quality ≤ 100. On error it returns the zero Sample and an error wrapping
// ErrMalformedSample.
func ParseSample(b []byte) (Sample, error) {
	bad := func(format string, args ...any) (Sample, error) {
		return Sample{}, fmt.Errorf("%w: %s", ErrMalformedSample, fmt.Sprintf(format, args...))
	}
	if len(b) < sampleHeaderSize {
		return bad("%d bytes, header is %d", len(b), sampleHeaderSize)
	}
	if string(b[:4]) != sampleMagic {
		return bad("bad magic")
	}
	if b[4] != sampleVersion {
		return bad("version %d", b[4])
	}
	n := int(b[5])
	if want := sampleHeaderSize + n*sampleMinutia; len(b) != want {
		return bad("%d bytes for %d minutiae, want %d", len(b), n, want)
	}
	s := Sample{
		Width:  int(binary.BigEndian.Uint16(b[6:])),
		Height: int(binary.BigEndian.Uint16(b[8:])),
	}
	if n > 0 {
		s.Minutiae = make([]Minutia, n)
	}
	for i := range n {
		r := b[sampleHeaderSize+i*sampleMinutia:]
		s.Minutiae[i] = Minutia{
			X:       float64(binary.BigEndian.Uint16(r[0:])) / coordScale,
			Y:       float64(binary.BigEndian.Uint16(r[2:])) / coordScale,
			Angle:   float64(binary.BigEndian.Uint16(r[4:])) * (2 * math.Pi / angleUnits),
			Kind:    Kind(r[6]),
			Quality: r[7],
		}
	}
	if err := s.Validate(); err != nil {
		return bad("%v", err)
	}
	return s, nil
}
