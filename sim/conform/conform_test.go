package conform

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// caseNames returns the full names of the cases matching keep.
func caseNames(keep func(Case) bool) []string {
	var out []string
	for _, c := range Cases() {
		if keep(c) {
			out = append(out, c.FullName())
		}
	}
	return out
}

func runOn(t *testing.T, target Target, skip string) *Report {
	t.Helper()
	cfg := Config{Target: target}
	if skip != "" {
		cfg.Skip = regexp.MustCompile(skip)
	}
	return runWith(t, cfg)
}

// runWith runs conform with cfg and logs each result.
func runWith(t *testing.T, cfg Config) *Report {
	t.Helper()
	rep, err := Run(testCtx(t, 3*time.Minute), cfg)
	require.NoError(t, err)
	for _, r := range rep.Results {
		t.Log(FormatLine(r, 40))
	}
	return rep
}

// TestOwnHALPassesEverything boots an fpemu device (Keymaster, Gatekeeper,
// fingerprint TA and HAL as processes) and runs every case, the 30 s
// lockout expiry included, against it: all pass, none is skipped.
func TestOwnHALPassesEverything(t *testing.T) {
	t.Parallel()
	d := startDevice(t)
	rep := runOn(t, d.Target(), "")
	assert.Empty(t, rep.Names(Fail))
	assert.Empty(t, rep.Names(Skip))
	assert.Len(t, rep.Results, len(Cases()))
	assert.True(t, rep.OK())

	// fpemu's TA answers 0 with group 99 empty (AIDL rule), so the VTS
	// GetAuthenticatorIdTest passes only in its adapted form — and says so
	// in the text, JSON and JUnit reports instead of passing silently.
	var noted bool
	for _, r := range rep.Results {
		if r.Name == "GetAuthenticatorIdTest" {
			require.Equal(t, Pass, r.Status)
			assert.Contains(t, r.Reason, "adapted:")
			noted = true
		}
	}
	require.True(t, noted, "GetAuthenticatorIdTest ran")
	var out bool
	for _, s := range rep.JUnit().Suites {
		for _, c := range s.Cases {
			if c.Name == "GetAuthenticatorIdTest" {
				assert.Contains(t, c.SystemOut, "adapted:")
				assert.Nil(t, c.Failure)
				assert.Nil(t, c.Skipped)
				out = true
			}
		}
	}
	assert.True(t, out, "JUnit lists GetAuthenticatorIdTest")
}

// TestOwnHALWithheldEndpoints: with only the HAL, or the HAL and
// Gatekeeper, or the HAL and the sensor (Keymaster always withheld),
// nothing fails, and exactly the cases needing what is withheld are
// skipped — with the reason, never passed.
func TestOwnHALWithheldEndpoints(t *testing.T) {
	t.Parallel()
	d := startDevice(t)
	full := d.Target()
	needing := func(n Need) []string {
		names := caseNames(func(c Case) bool { return c.Needs&(n|NeedKeymaster) != 0 && c.Name != "LockoutExpiryTest" })
		// GetAuthenticatorIdTest needs both when the HAL answers 0 with
		// nothing enrolled, as fpemu's does.
		return append([]string{"vts/GetAuthenticatorIdTest"}, names...)
	}
	for _, tc := range []struct {
		name     string
		target   Target
		withheld Need
	}{
		{"hal only", Target{HAL: full.HAL}, NeedGatekeeper | NeedSensor},
		{"hal and gatekeeper", Target{HAL: full.HAL, Gatekeeper: full.Gatekeeper}, NeedSensor},
		{"hal and sensor", Target{HAL: full.HAL, Sensor: full.Sensor}, NeedGatekeeper},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := runOn(t, tc.target, "LockoutExpiry")
			assert.Empty(t, rep.Names(Fail))
			assert.Equal(t, append(needing(tc.withheld), "fpemu/LockoutExpiryTest"), rep.Names(Skip))
			for _, r := range rep.Results {
				if r.Status == Skip && r.Reason != NotSelected {
					assert.Contains(t, r.Reason, "needs --", r.Name)
				}
			}
			assert.NotContains(t, rep.Names(Pass), "fpemu/EnrollTest")
			checkJUnit(t, rep)
		})
	}
}

// TestSelection: --run and --skip match a case's name or suite/name.
func TestSelection(t *testing.T) {
	all := len(allCases())
	tests := []struct {
		run, skip string
		want      []string
		n         int
	}{
		{run: "^ConnectTest$", want: []string{"vts/ConnectTest"}},
		{run: "^vts/Cancel", want: []string{"vts/CancelTest", "vts/CancelEnrollTest", "vts/CancelAuthTest", "vts/CancelRemoveTest", "vts/CancelRemoveAllTest"}},
		{run: "Lockout", want: []string{"fpemu/LockoutTest", "fpemu/LockoutExpiryTest"}},
		{run: "Lockout", skip: "Expiry", want: []string{"fpemu/LockoutTest"}},
		{skip: "^fpemu/", n: len(caseNames(func(c Case) bool { return c.Suite == SuiteVTS }))},
		{skip: "LockoutExpiry", n: all - 1},
		{run: "NoSuchCase", want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.run+"|"+tc.skip, func(t *testing.T) {
			var run, skip *regexp.Regexp
			if tc.run != "" {
				run = regexp.MustCompile(tc.run)
			}
			if tc.skip != "" {
				skip = regexp.MustCompile(tc.skip)
			}
			var got []string
			for _, c := range selectCases(run, skip) {
				got = append(got, c.FullName())
			}
			if tc.n > 0 {
				assert.Len(t, got, tc.n)
				return
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestCasesComplete: every VTS 2.1 case of VtsHalBiometricsFingerprintV2_1TargetTest is
// there, in VTS's order, each case documented, names unique.
func TestCasesComplete(t *testing.T) {
	vts := []string{"ConnectTest", "ConnectNullTest", "PreEnrollTest", "EnrollInvalidHatTest", "EnrollNullTest",
		"PostEnrollTest", "GetAuthenticatorIdTest", "EnumerateTest", "RemoveFingerprintTest", "RemoveAllFingerprintsTest",
		"SetActiveGroupTest", "SetActiveGroupUnwritableTest", "SetActiveGroupNullTest", "CancelTest", "CancelEnrollTest",
		"CancelAuthTest", "CancelRemoveTest", "CancelRemoveAllTest"}
	var got []string
	seen := map[string]bool{}
	for _, c := range Cases() {
		if c.Suite == SuiteVTS {
			got = append(got, c.Name)
		}
		assert.False(t, seen[c.Name], "duplicate %s", c.Name)
		seen[c.Name] = true
		assert.NotEmpty(t, c.Doc, c.Name)
		assert.False(t, strings.HasPrefix(c.Doc, "VTS 2.1 "), "%s has no doc of its own", c.Name)
		assert.Positive(t, c.Limit, c.Name)
	}
	assert.Equal(t, vts, got)
}

// TestRunErrors: no HAL, an unreachable HAL, an empty selection.
func TestRunErrors(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	_, err := Run(ctx, Config{})
	assert.ErrorIs(t, err, ErrNoHAL)
	_, err = Run(ctx, Config{Target: Target{HAL: t.TempDir() + "/none.sock"}})
	assert.Error(t, err)
	_, err = Run(ctx, Config{Target: Target{HAL: "x"}, Run: regexp.MustCompile("NoSuchCase")})
	assert.ErrorIs(t, err, ErrNoCases)
}
