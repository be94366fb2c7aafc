package demo

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStepJSON(t *testing.T) {
	tests := []struct {
		name string
		step Step
		want string
	}{
		{
			"ok step, details in order, 64-bit ids as hex strings",
			Step{N: 3, Name: "PIN enroll", OK: true, Elapsed: 2750 * time.Microsecond,
				Details: Details{{"uid", uint32(0)}, {"sid", Hex64(0xfedcba9876543210)}, {"fingers", []uint32{7, 3}}}},
			`{"n":3,"step":"PIN enroll","ok":true,"ms":2.75,"details":{"uid":0,"sid":"0xfedcba9876543210","fingers":[7,3]}}`,
		},
		{
			"failed step carries its error in details",
			Step{N: 9, Name: "register", Elapsed: time.Second, Details: Details{{"attempts", 3}}, Err: errors.New("no finger list")},
			`{"n":9,"step":"register","ok":false,"ms":1000,"details":{"attempts":3,"error":"no finger list"}}`,
		},
		{
			"no details is an empty object",
			Step{N: 1, Name: "x", OK: true, Elapsed: time.Nanosecond},
			`{"n":1,"step":"x","ok":true,"ms":0,"details":{}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, JSONLines{W: &buf}.Step(tc.step))
			assert.Equal(t, tc.want+"\n", buf.String())
			assert.True(t, json.Valid(buf.Bytes()))
		})
	}
}

func TestDetailsMarshalRejectsUnencodable(t *testing.T) {
	_, err := Details{{"f", func() {}}}.MarshalJSON()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `detail "f"`)
}

func TestDetailsString(t *testing.T) {
	d := Details{{"sid", Hex64(0x1f)}, {"fids", []uint32{1, 2}}, {"payload", "order 1: 5 CNY"}, {"ok", true}}
	assert.Equal(t, `sid=0x000000000000001f fids=[1 2] payload="order 1: 5 CNY" ok=true`, d.String())
	v, ok := d.Get("fids")
	assert.True(t, ok)
	assert.Equal(t, []uint32{1, 2}, v)
	_, ok = d.Get("nope")
	assert.False(t, ok)
}

// TestTextLayout: numbered lines of the same width with the timing at the
// right edge, details wrapped below without splitting a key=value, the
// error of a failed step shown.
func TestTextLayout(t *testing.T) {
	var buf bytes.Buffer
	txt := Text{W: &buf, Width: 60}
	steps := []Step{
		{N: 1, Name: "boot", OK: true, Elapsed: 123456 * time.Microsecond},
		{N: 12, Name: "a step with a rather long name", OK: true, Elapsed: 5 * time.Millisecond,
			Details: Details{{"payload", "order 1001: 12.34 CNY to merchant 42"}, {"challenge", Hex64(1)}, {"n", 8}}},
		{N: 13, Name: "failing", Elapsed: 5 * time.Second, Err: errors.New("the payment TA never got the finger list")},
	}
	for _, s := range steps {
		require.NoError(t, txt.Step(s))
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	var heads []string
	for _, l := range lines {
		assert.LessOrEqual(t, utf8.RuneCountInString(l), 60, "%q", l)
		if !strings.HasPrefix(l, "    ") {
			heads = append(heads, l)
			assert.Equal(t, 60, utf8.RuneCountInString(l), "%q", l)
			assert.True(t, strings.HasSuffix(l, " ms"), l)
		}
	}
	require.Len(t, heads, 3)
	assert.True(t, strings.HasPrefix(heads[0], " 1. boot "))
	assert.True(t, strings.HasSuffix(heads[0], "ok     123.5 ms"))
	assert.True(t, strings.HasPrefix(heads[1], "12. a step"))
	assert.Contains(t, heads[2], "FAIL")
	assert.Contains(t, buf.String(), "    payload=\"order 1001: 12.34 CNY to merchant 42\"\n")
	assert.Contains(t, buf.String(), "    error: the payment TA never got the finger list\n")
}

func TestWrap(t *testing.T) {
	tests := []struct {
		words []string
		width int
		want  []string
	}{
		{nil, 10, nil},
		{[]string{"a", "b", "c"}, 3, []string{"a b", "c"}},
		{[]string{"averyveryverylongword", "x"}, 5, []string{"averyveryverylongword", "x"}},
		{[]string{"é=1", "ü=2"}, 7, []string{"é=1 ü=2"}},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, wrap(tc.words, tc.width), "%v", tc.words)
	}
}

func TestPercentile(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(100-i) * time.Millisecond // unsorted on purpose
	}
	assert.Equal(t, 50*time.Millisecond, percentile(ds, 0.50))
	assert.Equal(t, 99*time.Millisecond, percentile(ds, 0.99))
	assert.Equal(t, 100*time.Millisecond, percentile(ds, 1))
	assert.Equal(t, 1*time.Millisecond, percentile(ds, 0))
	assert.Equal(t, time.Duration(0), percentile(nil, 0.5))
	assert.Equal(t, 100*time.Millisecond, ds[0], "input not reordered")
}

func TestReport(t *testing.T) {
	r := &Report{}
	assert.False(t, r.OK(), "no steps is not a success")
	r.Steps = []Step{{N: 1, OK: true}, {N: 2, OK: false, Name: "b"}, {N: 3, OK: false}}
	assert.False(t, r.OK())
	s, ok := r.Failed()
	require.True(t, ok)
	assert.Equal(t, 2, s.N)
	r.Steps = r.Steps[:1]
	assert.True(t, r.OK())
	_, ok = r.Failed()
	assert.False(t, ok)
}
