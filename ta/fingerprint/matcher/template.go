package matcher

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Template wire format, version 1 (all integers big-endian):
//
//	off  size  field
//	0    4     magic "FPMT"
//	4    1     version = 1
//	5    1     flags = 0 (reserved)
//	6    1     window count W, 1..MaxTemplateWindows
//	7    1     reserved = 0
//	8    2     minutia count N, 1..MaxTemplateMinutiae
//	10   10*W  windows: x int16, y int16 (¼ px), angle uint16 (2π/65536),
//	           width uint16, height uint16 (px, 1..MaxSensorSize)
//	..   8*N   minutiae: x int16, y int16 (¼ px), angle uint16 (2π/65536),
//	           kind uint8 (1 ridge ending, 2 bifurcation), quality uint8 (0..100)
//
// The encoding is canonical: a template has exactly one byte string, so
// Parse(b).MarshalBinary() == b for every accepted b.
const (
	templateMagic   = "FPMT"
	templateVersion = 1
	headerSize      = 10
	windowSize      = 10
	minutiaSize     = 8

	// MaxTemplateMinutiae bounds the minutiae of one template.
	MaxTemplateMinutiae = 256
	// MaxTemplateWindows bounds the enrolled sensor windows of one
	// template (one per merged sample).
	MaxTemplateWindows = 32
	// MaxTemplateSize is the largest encoded template.
	MaxTemplateSize = headerSize + MaxTemplateWindows*windowSize + MaxTemplateMinutiae*minutiaSize

	// coordScale is the fixed-point scale of stored coordinates (¼ px),
	// so that template coordinates span ±8191.75 px.
	coordScale = 4
	angleUnits = 65536
)

// Template decoding errors. A *DecodeError wraps exactly one of them and
// also matches ErrMalformedTemplate.
var (
	ErrMalformedTemplate  = errors.New("matcher: malformed template")
	ErrBadMagic           = errors.New("bad magic")
	ErrUnsupportedVersion = errors.New("unsupported version")
	ErrTruncated          = errors.New("truncated")
	ErrTrailingData       = errors.New("trailing data")
	ErrCount              = errors.New("count out of range")
	ErrFieldValue         = errors.New("invalid field value")
)

// DecodeError locates a template decoding failure.
type DecodeError struct {
	Offset int    // byte offset of the offending field
	Field  string // field name
	Err    error  // one of the sentinel errors above
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("matcher: malformed template: %s at offset %d: %v", e.Field, e.Offset, e.Err)
}

// Unwrap returns the specific sentinel.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is makes every DecodeError match ErrMalformedTemplate.
func (e *DecodeError) Is(target error) bool { return target == ErrMalformedTemplate }

// Window is one enrolled sensor window placed in the template frame: a
// sensor point p maps to the template point R(Angle)·p + (X, Y).
type Window struct {
	X, Y          float64
	Angle         float64
	Width, Height int
}

// MinutiaeTemplate is the reference matcher's template: the merged minutiae
// and the sensor windows they were seen through, all in one frame. Values
// are held at the codec's precision, so encoding is lossless. It is
// immutable and safe for concurrent use.
type MinutiaeTemplate struct {
	minutiae []Minutia
	windows  []Window
	prep     *prepared
	pw       []placedWindow
}

// placed returns the windows with their rotations precomputed.
func (t *MinutiaeTemplate) placed() []placedWindow {
	if t.pw != nil {
		return t.pw
	}
	return placeWindows(t.windows)
}

// NewMinutiaeTemplate checks ms and ws against the format bounds and
// returns a template holding them rounded to the codec's precision.
// Errors match ErrMalformedTemplate.
func NewMinutiaeTemplate(ms []Minutia, ws []Window) (*MinutiaeTemplate, error) {
	b, err := encodeTemplate(ms, ws)
	if err != nil {
		return nil, err
	}
	return ParseMinutiaeTemplate(b)
}

// Minutiae returns a copy of the template's minutiae.
func (t *MinutiaeTemplate) Minutiae() []Minutia { return append([]Minutia(nil), t.minutiae...) }

// Windows returns a copy of the template's enrolled windows.
func (t *MinutiaeTemplate) Windows() []Window { return append([]Window(nil), t.windows...) }

// MarshalBinary encodes the template in the version 1 format.
func (t *MinutiaeTemplate) MarshalBinary() ([]byte, error) {
	return encodeTemplate(t.minutiae, t.windows)
}

func quantCoord(v float64) (int16, bool) {
	q := math.Round(v * coordScale)
	if !(q >= math.MinInt16 && q <= math.MaxInt16) { // also rejects NaN
		return 0, false
	}
	return int16(q), true
}

func quantAngle(a float64) (uint16, bool) {
	if math.IsNaN(a) || math.IsInf(a, 0) {
		return 0, false
	}
	q := math.Round(NormAngle(a) * angleUnits / (2 * math.Pi))
	return uint16(int64(q) % angleUnits), true
}

func encodeTemplate(ms []Minutia, ws []Window) ([]byte, error) {
	bad := func(off int, field string, err error) error {
		return &DecodeError{Offset: off, Field: field, Err: err}
	}
	if len(ws) < 1 || len(ws) > MaxTemplateWindows {
		return nil, bad(6, "window count", ErrCount)
	}
	if len(ms) < 1 || len(ms) > MaxTemplateMinutiae {
		return nil, bad(8, "minutia count", ErrCount)
	}
	b := make([]byte, 0, headerSize+len(ws)*windowSize+len(ms)*minutiaSize)
	b = append(b, templateMagic...)
	b = append(b, templateVersion, 0, byte(len(ws)), 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(ms)))
	for _, w := range ws {
		off := len(b)
		x, okx := quantCoord(w.X)
		y, oky := quantCoord(w.Y)
		a, oka := quantAngle(w.Angle)
		if !okx || !oky || !oka || w.Width < 1 || w.Width > MaxSensorSize || w.Height < 1 || w.Height > MaxSensorSize {
			return nil, bad(off, "window", ErrFieldValue)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(x))
		b = binary.BigEndian.AppendUint16(b, uint16(y))
		b = binary.BigEndian.AppendUint16(b, a)
		b = binary.BigEndian.AppendUint16(b, uint16(w.Width))
		b = binary.BigEndian.AppendUint16(b, uint16(w.Height))
	}
	for _, m := range ms {
		off := len(b)
		x, okx := quantCoord(m.X)
		y, oky := quantCoord(m.Y)
		a, oka := quantAngle(m.Angle)
		if !okx || !oky || !oka || !m.Kind.Valid() || m.Quality > MaxQuality {
			return nil, bad(off, "minutia", ErrFieldValue)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(x))
		b = binary.BigEndian.AppendUint16(b, uint16(y))
		b = binary.BigEndian.AppendUint16(b, a)
		b = append(b, byte(m.Kind), m.Quality)
	}
	return b, nil
}

// ParseMinutiaeTemplate decodes a version 1 template. It is strict: exact
// length, zero reserved bytes, counts and values within bounds; on error it
// returns nil and a *DecodeError (matching ErrMalformedTemplate).
func ParseMinutiaeTemplate(b []byte) (*MinutiaeTemplate, error) {
	bad := func(off int, field string, err error) (*MinutiaeTemplate, error) {
		return nil, &DecodeError{Offset: off, Field: field, Err: err}
	}
	if len(b) < headerSize {
		return bad(len(b), "header", ErrTruncated)
	}
	if string(b[0:4]) != templateMagic {
		return bad(0, "magic", ErrBadMagic)
	}
	if b[4] != templateVersion {
		return bad(4, "version", ErrUnsupportedVersion)
	}
	if b[5] != 0 {
		return bad(5, "flags", ErrFieldValue)
	}
	nw := int(b[6])
	if nw < 1 || nw > MaxTemplateWindows {
		return bad(6, "window count", ErrCount)
	}
	if b[7] != 0 {
		return bad(7, "reserved", ErrFieldValue)
	}
	nm := int(binary.BigEndian.Uint16(b[8:10]))
	if nm < 1 || nm > MaxTemplateMinutiae {
		return bad(8, "minutia count", ErrCount)
	}
	want := headerSize + nw*windowSize + nm*minutiaSize
	if len(b) < want {
		return bad(len(b), "body", ErrTruncated)
	}
	if len(b) > want {
		return bad(want, "end", ErrTrailingData)
	}
	u16 := func(off int) uint16 { return binary.BigEndian.Uint16(b[off : off+2]) }
	coord := func(off int) float64 { return float64(int16(u16(off))) / coordScale }
	angle := func(off int) float64 { return float64(u16(off)) * 2 * math.Pi / angleUnits }
	t := &MinutiaeTemplate{
		windows:  make([]Window, nw),
		minutiae: make([]Minutia, nm),
	}
	off := headerSize
	for i := range t.windows {
		w, h := int(u16(off+6)), int(u16(off+8))
		if w < 1 || w > MaxSensorSize {
			return bad(off+6, "window width", ErrFieldValue)
		}
		if h < 1 || h > MaxSensorSize {
			return bad(off+8, "window height", ErrFieldValue)
		}
		t.windows[i] = Window{X: coord(off), Y: coord(off + 2), Angle: angle(off + 4), Width: w, Height: h}
		off += windowSize
	}
	for i := range t.minutiae {
		k, q := Kind(b[off+6]), b[off+7]
		if !k.Valid() {
			return bad(off+6, "minutia kind", ErrFieldValue)
		}
		if q > MaxQuality {
			return bad(off+7, "minutia quality", ErrFieldValue)
		}
		t.minutiae[i] = Minutia{X: coord(off), Y: coord(off + 2), Angle: angle(off + 4), Kind: k, Quality: q}
		off += minutiaSize
	}
	t.prep = prepareTemplate(t.minutiae)
	t.pw = placeWindows(t.windows)
	return t, nil
}
