package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Step is one line of the trace: what was done, whether it behaved as
// expected, how long it took and what it showed.
type Step struct {
	// N numbers the steps of a run from 1.
	N int
	// Name says what the step does, in a few words.
	Name string
	// OK is true when the step behaved exactly as expected (for a failure
	// path: when the failure was the expected one).
	OK bool
	// Elapsed is the wall time of the step.
	Elapsed time.Duration
	// Details are the step's observations, in order (ids, counts, codes).
	// They never hold a secret (no key, no password, no MAC).
	Details Details
	// Err says why the step is not OK.
	Err error
}

// KV is one named observation.
type KV struct {
	Key   string
	Value any
}

// Details is an ordered list of observations. It marshals as a JSON
// object whose keys keep their order.
type Details []KV

// Add appends key = value.
func (d *Details) Add(key string, value any) { *d = append(*d, KV{key, value}) }

// Get returns the value of key.
func (d Details) Get(key string) (any, bool) {
	for _, kv := range d {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// MarshalJSON writes the details as one object, keys in order.
func (d Details) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range d {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(kv.Key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("demo: detail %q: %w", kv.Key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// String formats the details as "key=value key=value"; 64-bit ids print in
// hex.
func (d Details) String() string { return strings.Join(d.fields(), " ") }

func (d Details) fields() []string {
	parts := make([]string, 0, len(d))
	for _, kv := range d {
		parts = append(parts, kv.Key+"="+formatValue(kv.Value))
	}
	return parts
}

func formatValue(v any) string {
	switch x := v.(type) {
	case Hex64:
		return fmt.Sprintf("%#016x", uint64(x))
	case []uint32:
		s := make([]string, len(x))
		for i, n := range x {
			s[i] = fmt.Sprint(n)
		}
		return "[" + strings.Join(s, " ") + "]"
	case string:
		if strings.ContainsAny(x, " \t") {
			return fmt.Sprintf("%q", x)
		}
		return x
	}
	return fmt.Sprint(v)
}

// Hex64 is a 64-bit id (challenge, SID, authenticator id, operation
// handle). It prints in hex and marshals as a JSON string "0x…", so that
// JSON readers that parse numbers as doubles do not round it.
type Hex64 uint64

// MarshalJSON writes "0x" and 16 hex digits.
func (h Hex64) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf(`"%#016x"`, uint64(h))), nil
}

// stepJSON is the JSON line of a step (`fpemu demo --json`).
type stepJSON struct {
	N       int     `json:"n"`
	Step    string  `json:"step"`
	OK      bool    `json:"ok"`
	Ms      float64 `json:"ms"`
	Details Details `json:"details"`
}

// Millis returns the elapsed time in milliseconds, to the microsecond.
func (s Step) Millis() float64 {
	return float64(s.Elapsed.Microseconds()) / 1000
}

// MarshalJSON writes the step as {"n","step","ok","ms","details"}; a
// failed step carries its reason as details.error.
func (s Step) MarshalJSON() ([]byte, error) {
	d := append(Details(nil), s.Details...)
	if d == nil {
		d = Details{}
	}
	if s.Err != nil {
		d.Add("error", s.Err.Error())
	}
	return json.Marshal(stepJSON{N: s.N, Step: s.Name, OK: s.OK, Ms: s.Millis(), Details: d})
}

// JSONLines writes each step as one JSON object per line.
type JSONLines struct{ W io.Writer }

// Step writes s as one line. Errors writing are returned.
func (j JSONLines) Step(s Step) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = j.W.Write(append(b, '\n'))
	return err
}

// Text writes the human trace: a numbered line per step with its timing
// right-aligned, and its details indented below.
type Text struct {
	W io.Writer
	// Width is the width of a step line (default 78).
	Width int
}

// Step writes s.
func (t Text) Step(s Step) error {
	width := t.Width
	if width <= 0 {
		width = 78
	}
	mark := "ok"
	if !s.OK {
		mark = "FAIL"
	}
	right := fmt.Sprintf("%s %9.1f ms", mark, s.Millis())
	left := fmt.Sprintf("%2d. %s", s.N, s.Name)
	pad := width - utf8.RuneCountInString(left) - utf8.RuneCountInString(right)
	if pad < 2 {
		pad = 2
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s%s%s\n", left, strings.Repeat(" ", pad), right)
	if len(s.Details) > 0 {
		for _, line := range wrap(s.Details.fields(), width-4) {
			fmt.Fprintf(&b, "    %s\n", line)
		}
	}
	if s.Err != nil {
		for _, line := range wrap(strings.Fields("error: "+s.Err.Error()), width-4) {
			fmt.Fprintf(&b, "    %s\n", line)
		}
	}
	_, err := io.WriteString(t.W, b.String())
	return err
}

// wrap joins words with spaces into lines of at most width runes (a longer
// word stays whole).
func wrap(words []string, width int) []string {
	var lines []string
	var cur strings.Builder
	n := 0
	for _, w := range words {
		l := utf8.RuneCountInString(w)
		if n > 0 && n+1+l > width {
			lines = append(lines, cur.String())
			cur.Reset()
			n = 0
		}
		if n > 0 {
			cur.WriteByte(' ')
			n++
		}
		cur.WriteString(w)
		n += l
	}
	if n > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}
