package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEvalMatcherJSON(t *testing.T) {
	det := filepath.Join(t.TempDir(), "det.png")
	args := []string{"eval", "matcher", "--fingers", "30", "--seed", "3", "--enroll-samples", "6", "--probes", "4", "--json", "--out", det}
	r := fpemu(t, "", args...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	assert.Equal(t, 1, strings.Count(r.stdout, "\n"), "one JSON object on one line")

	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	for _, k := range []string{"far", "frr", "threshold", "impostor_comparisons", "genuine_comparisons",
		"false_accepts", "false_rejects", "enroll_failures", "eer", "far_upper_95", "matcher", "det_png"} {
		assert.Contains(t, got, k)
	}
	enrolled := 30 - got["enroll_failures"].(float64)
	assert.Equal(t, enrolled*29, got["impostor_comparisons"])
	assert.Equal(t, enrolled*4, got["genuine_comparisons"])
	assert.Equal(t, 24.0, got["threshold"])
	assert.LessOrEqual(t, got["far"], 0.001)
	assert.LessOrEqual(t, got["frr"], 0.1)
	assert.Equal(t, det, got["det_png"])

	f, err := os.Open(det)
	require.NoError(t, err)
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	require.NoError(t, err)
	assert.Equal(t, [2]int{800, 600}, [2]int{cfg.Width, cfg.Height})

	// deterministic: the same run prints the same object
	again := fpemu(t, "", args...)
	assert.Equal(t, r.stdout, again.stdout)
}

func TestEvalMatcherSummaryAndCheck(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	r := fpemu(t, "", "eval", "matcher", "--fingers", "12", "--enroll-samples", "4", "--probes", "2",
		"--threshold", "30", "--out", "", "--check")
	// 12 fingers cannot make 200,000 impostor comparisons
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "impostor comparisons")
	assert.Contains(t, r.stdout, "threshold           30\n")
	assert.Contains(t, r.stdout, "FAR ")
	assert.NotContains(t, r.stdout, "DET curve")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, `--out "" writes no image`)

	// the default --out writes det.png in the working directory
	r = fpemu(t, "", "eval", "matcher", "--fingers", "5", "--enroll-samples", "3", "--probes", "1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "DET curve           det.png\n")
	_, err = os.Stat(filepath.Join(dir, "det.png"))
	assert.NoError(t, err)
}

func TestEvalMatcherUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--fingers", "1"},
		{"--threshold", "-1"},
		{"--threshold", "NaN"},
		{"--enroll-samples", "0"},
		{"--enroll-samples", "33"},
		{"--probes", "0"},
		{"--workers", "-2"},
		{"--seed", "-1"},
		{"extra"},
	} {
		r := fpemu(t, "", append([]string{"eval", "matcher", "--out", ""}, args...)...)
		assert.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
	}
	r := fpemu(t, "", "eval", "matcher", "--fingers", "3", "--out", filepath.Join(t.TempDir(), "missing", "det.png"))
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "--out")
}
