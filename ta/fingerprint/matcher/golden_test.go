package matcher

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var updateScores = flag.Bool("update", false, "rewrite testdata/scores.golden")

// goldenScores compares every template of four fingers with three probes
// of each of the four (48 pairs: 12 genuine, 36 impostor) and renders one
// line per pair: the pair, the score's IEEE-754 bits, the score and the
// decision at the default threshold.
func goldenScores(t *testing.T) string {
	m := NewMinutiae(0)
	type finger struct {
		ms   []Minutia
		tmpl Template
	}
	var fs []finger
	for k := range 4 {
		ms := testFinger(uint64(700+k), 45+8*k)
		tp, err := enrollTest(m, ms, uint64(70+10*k))
		require.NoError(t, err)
		fs = append(fs, finger{ms: ms, tmpl: tp})
	}
	probes := []struct {
		cx, cy, rot, sigma float64
	}{{0, 0, 0, 1}, {25, -15, 0.3, 2}, {-45, 30, -0.5, 3}}
	var b strings.Builder
	b.WriteString("# template probe-finger probe score-bits score accepted (threshold 24)\n")
	for ti, tf := range fs {
		for pi, pf := range fs {
			for k, pr := range probes {
				s := capture(pf.ms, pr.cx, pr.cy, pr.rot, 200, 200, pr.sigma, uint64(900+10*pi+k))
				d, err := Verify(m, tf.tmpl, s)
				require.NoError(t, err)
				pp, err := m.PrepareProbe(s)
				require.NoError(t, err)
				ps, err := m.MatchPrepared(tf.tmpl, pp)
				require.NoError(t, err)
				require.Equal(t, math.Float64bits(d.Score), math.Float64bits(ps), "MatchPrepared differs from Match")
				fmt.Fprintf(&b, "%d %d %d %016x %.6f %t\n", ti, pi, k, math.Float64bits(d.Score), d.Score, d.Accepted)
			}
		}
	}
	return b.String()
}

// TestScoresGolden pins the reference matcher's scores bit for bit: a
// speed-up of Match must not change any score or decision (the FAR/FRR
// calibration of DefaultThreshold, docs/benchmarks.md ## matcher, rests
// on them). Regenerate only for an intended change of the algorithm, with
// go test -run TestScoresGolden -update.
func TestScoresGolden(t *testing.T) {
	got := goldenScores(t)
	path := filepath.Join("testdata", "scores.golden")
	if *updateScores {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)
	var genuine, accepted int
	for _, l := range strings.Split(strings.TrimSpace(got), "\n")[1:] {
		f := strings.Fields(l)
		if f[0] == f[1] {
			genuine++
		}
		if f[5] == "true" {
			accepted++
			assert.Equal(t, f[0], f[1], "an impostor accepted: %s", l)
		}
	}
	require.Equal(t, 12, genuine)
	require.Greater(t, accepted, 6, "the golden set must hold accepted pairs too")
}

// TestMatchPreparedIsMatch: MatchPrepared fails where Match fails, with
// the same error, and refuses a probe another matcher prepared (the
// scores themselves are compared in TestScoresGolden).
func TestMatchPreparedIsMatch(t *testing.T) {
	m := NewMinutiae(0)
	var _ ProbePreparer = m
	finger := testFinger(31, 60)
	tp, err := enrollTest(m, finger, 31)
	require.NoError(t, err)
	few := capture(finger, 0, 0, 0, 200, 200, 1, 1)
	few.Minutiae = few.Minutiae[:minProbeMinutiae-1]
	bad := capture(finger, 0, 0, 0, 200, 200, 1, 1)
	bad.Width = 0
	for _, tc := range []struct {
		name  string
		probe Sample
	}{{"genuine", capture(finger, 10, 5, 0.1, 200, 200, 1, 2)}, {"too few minutiae", few}, {"invalid", bad}} {
		t.Run(tc.name, func(t *testing.T) {
			want, wantErr := m.Match(tp, tc.probe)
			pp, err := m.PrepareProbe(tc.probe)
			if wantErr != nil {
				require.Error(t, err)
				assert.Equal(t, wantErr.Error(), err.Error())
				return
			}
			require.NoError(t, err)
			got, err := m.MatchPrepared(tp, pp)
			require.NoError(t, err)
			assert.Equal(t, math.Float64bits(want), math.Float64bits(got))
		})
	}
	pp, err := m.PrepareProbe(capture(finger, 0, 0, 0, 200, 200, 1, 3))
	require.NoError(t, err)
	_, err = m.MatchPrepared(nil, pp)
	require.ErrorIs(t, err, ErrForeignTemplate)
	_, err = m.MatchPrepared(tp, "not a probe")
	require.ErrorIs(t, err, ErrForeignProbe)
	_, err = m.MatchPrepared(tp, nil)
	require.ErrorIs(t, err, ErrForeignProbe)
}
