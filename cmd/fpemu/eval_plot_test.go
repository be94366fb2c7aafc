package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/sim/finger/eval"
)

// smallEvalArgs is a population small enough for a test and large enough
// to take a few progress ticks.
var smallEvalArgs = []string{"eval", "matcher", "--fingers", "24", "--seed", "3", "--enroll-samples", "4", "--probes", "2"}

func TestEvalMatcherPNG(t *testing.T) {
	det := filepath.Join(t.TempDir(), "det.png")
	r := fpemu(t, "", append(smallEvalArgs, "--json", "--out", det)...)
	require.Equal(t, 0, r.code, r.stderr)

	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	assert.Equal(t, det, got["det"])
	assert.Equal(t, det, got["det_png"])

	f, err := os.Open(det)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	assert.Equal(t, [2]int{eval.DETWidth, eval.DETHeight}, [2]int{img.Bounds().Dx(), img.Bounds().Dy()})
}

func TestEvalMatcherSVG(t *testing.T) {
	dir := t.TempDir()
	for name, args := range map[string][]string{
		"extension": {"--out", filepath.Join(dir, "det.svg")},
		"--format":  {"--out", filepath.Join(dir, "det.plot"), "--format", "svg"},
		"both":      {"--out", filepath.Join(dir, "DET.SVG"), "--format", "SVG"},
	} {
		t.Run(name, func(t *testing.T) {
			r := fpemu(t, "", append(append(smallEvalArgs, "--json"), args...)...)
			require.Equal(t, 0, r.code, r.stderr)
			var got struct {
				DET       string  `json:"det"`
				DETPNG    *string `json:"det_png"`
				Threshold float64 `json:"threshold"`
			}
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
			assert.Equal(t, args[1], got.DET)
			assert.Nil(t, got.DETPNG, "det_png names PNGs only")

			doc, err := os.ReadFile(args[1])
			require.NoError(t, err)
			all := strings.Join(testkit.SVGTexts(t, doc), "\n")
			for _, want := range []string{eval.DETXLabel, eval.DETYLabel, eval.DETPointLabel(got.Threshold), "operating point: FAR "} {
				assert.Contains(t, all, want)
			}
			assert.Contains(t, string(doc), `width="600pt" height="450pt"`, "800×600 CSS pixels")
		})
	}
}

func TestEvalMatcherFormatUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--out", filepath.Join(dir, "det.jpg")},
		{"--out", filepath.Join(dir, "det")},
		{"--out", filepath.Join(dir, "det.png"), "--format", "jpeg"},
		{"--out", filepath.Join(dir, "det.png"), "--format", "svg"},
		{"--out", "", "--format", "pdf"},
	} {
		r := fpemu(t, "", append([]string{"eval", "matcher", "--fingers", "3"}, args...)...)
		assert.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
		assert.Empty(t, r.stdout, "%v", args)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "a usage error writes nothing")
}

// fastProgress makes the progress lines come every few milliseconds.
func fastProgress(t *testing.T) {
	saved := progressLineInterval
	progressLineInterval = 5 * time.Millisecond
	t.Cleanup(func() { progressLineInterval = saved })
}

// progressLines are the lines of s that are progress lines of prefix.
func progressLines(s, prefix string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix+": ") {
			out = append(out, l)
		}
	}
	return out
}

// On a stderr that is not a terminal, eval matcher writes progress lines
// there and never on stdout; --json silences them unless --progress is
// given, and --progress=false silences them.
func TestEvalMatcherProgress(t *testing.T) {
	fastProgress(t)
	const prefix = "fpemu eval matcher"
	out := []string{"--out", ""}

	r := fpemu(t, "", append(smallEvalArgs, out...)...)
	require.Equal(t, 0, r.code, r.stderr)
	lines := progressLines(r.stderr, prefix)
	require.NotEmpty(t, lines, r.stderr)
	assert.Contains(t, r.stderr, prefix+": enrolling ")
	assert.Contains(t, r.stderr, prefix+": comparing ")
	assert.Regexp(t, `^fpemu eval matcher: comparing \d+/\d+ fingers \(100%\), \d+s elapsed, done$`, lines[len(lines)-1])
	assert.NotContains(t, r.stdout, prefix+":")
	assert.Contains(t, r.stdout, "FAR ")

	r = fpemu(t, "", append(smallEvalArgs, append(out, "--json")...)...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stderr, "--json: quiet")

	r = fpemu(t, "", append(smallEvalArgs, append(out, "--json", "--progress")...)...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.NotEmpty(t, progressLines(r.stderr, prefix), "--json --progress: lines on stderr")
	assert.True(t, json.Valid([]byte(r.stdout)), "stdout is still one JSON object: %q", r.stdout)

	r = fpemu(t, "", append(smallEvalArgs, append(out, "--progress=false")...)...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stderr, "--progress=false: quiet")
}
