package conform

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// sampleReport has one case of each status, a multi-line reason and text
// XML must escape.
func sampleReport() *Report {
	return &Report{
		Target:   Target{HAL: "/dev/sock/hal.sock", Gatekeeper: "/dev/sock/gatekeeper.sock"},
		Start:    time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Duration: 1500 * time.Millisecond,
		Results: []Result{
			{Suite: SuiteVTS, Name: "ConnectTest", Status: Pass, Duration: 2 * time.Millisecond},
			{Suite: SuiteVTS, Name: "PreEnrollTest", Status: Fail, Duration: 9 * time.Millisecond,
				Reason: "vts: assertion failed: preEnroll #1 repeated a challenge\nsecond <failure> & \"quote\""},
			{Suite: SuiteFpemu, Name: "EnrollTest", Status: Skip, Reason: needSensorReason},
		},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
}

func TestReportGolden(t *testing.T) {
	rep := sampleReport()
	var text, js, junit bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	require.NoError(t, rep.WriteJSON(&js))
	require.NoError(t, rep.WriteJUnit(&junit))
	golden(t, "report.txt", text.Bytes())
	golden(t, "report.json", js.Bytes())
	golden(t, "report.junit.xml", junit.Bytes())
}

func TestReportCounts(t *testing.T) {
	rep := sampleReport()
	pass, fail, skip := rep.Counts()
	assert.Equal(t, [3]int{1, 1, 1}, [3]int{pass, fail, skip})
	assert.False(t, rep.OK())
	assert.Equal(t, []string{"vts/PreEnrollTest"}, rep.Names(Fail))
	assert.Contains(t, rep.Summary(), "FAILED: 1 passed, 1 failed, 1 skipped (3 cases) in 1.5s")
	rep.Results = rep.Results[:1]
	assert.True(t, rep.OK())
	assert.True(t, strings.HasPrefix(rep.Summary(), "ok: 1 passed"))

	var js struct {
		Passed, Failed, Skipped int
		Cases                   []map[string]any
	}
	b, err := json.Marshal(&Report{})
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &js))
	assert.NotNil(t, js.Cases, "an empty report has \"cases\": []")
}

// checkJUnit writes rep as JUnit XML to a file, parses it back with
// encoding/xml and checks it says what the report says.
func checkJUnit(t *testing.T, rep *Report) JUnitSuites {
	t.Helper()
	path := filepath.Join(t.TempDir(), "junit.xml")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, rep.WriteJUnit(f))
	require.NoError(t, f.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc JUnitSuites
	require.NoError(t, xml.Unmarshal(b, &doc))
	pass, fail, skip := rep.Counts()
	assert.Equal(t, pass+fail+skip, doc.Tests)
	assert.Equal(t, fail, doc.Failures)
	assert.Equal(t, skip, doc.Skipped)
	var names []string
	status := map[string]Status{}
	for _, s := range doc.Suites {
		n := 0
		for _, c := range s.Cases {
			full := s.Name + "/" + c.Name
			names = append(names, full)
			assert.Equal(t, "fpemu.conform."+s.Name, c.Classname)
			switch {
			case c.Failure != nil && c.Skipped == nil:
				status[full] = Fail
			case c.Skipped != nil && c.Failure == nil:
				status[full] = Skip
			case c.Failure == nil && c.Skipped == nil:
				status[full] = Pass
			default:
				t.Errorf("%s is both failed and skipped", full)
			}
			n++
		}
		assert.Equal(t, n, s.Tests)
	}
	var want []string
	for _, r := range rep.Results {
		want = append(want, r.FullName())
		assert.Equal(t, r.Status, status[r.FullName()], r.FullName())
	}
	assert.Equal(t, want, names)
	return doc
}

func TestJUnitParses(t *testing.T) {
	rep := sampleReport()
	doc := checkJUnit(t, rep)
	require.Len(t, doc.Suites, 2)
	f := doc.Suites[0].Cases[1].Failure
	require.NotNil(t, f)
	assert.Equal(t, "vts: assertion failed: preEnroll #1 repeated a challenge", f.Message)
	assert.Equal(t, rep.Results[1].Reason, f.Text)
	assert.Equal(t, needSensorReason, doc.Suites[1].Cases[0].Skipped.Message)
	assert.Equal(t, "0.009", doc.Suites[0].Cases[1].Time)
}

// FuzzJUnit: whatever a HAL makes a case report (names and reasons are
// built from its callbacks), the JUnit document is well formed and text
// XML can carry comes back unchanged.
func FuzzJUnit(f *testing.F) {
	f.Add("ConnectTest", "plain reason")
	f.Add("A<B", "reason with ]]> and <tags> & \"quotes\"\nsecond line")
	f.Add("ctl", "nul \x00 bell \x07 cr \r tab \t")
	f.Add("bad-utf8", "\xff\xfe invalid")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, name, reason string) {
		rep := &Report{Results: []Result{
			{Suite: SuiteVTS, Name: name, Status: Fail, Reason: reason},
			{Suite: SuiteFpemu, Name: name, Status: Skip, Reason: reason},
		}}
		var buf bytes.Buffer
		require.NoError(t, rep.WriteJUnit(&buf))
		var doc JUnitSuites
		require.NoError(t, xml.Unmarshal(buf.Bytes(), &doc), "%q", buf.String())
		require.Len(t, doc.Suites, 2)
		require.Equal(t, 2, doc.Tests)
		if xmlSafe(name) && xmlSafe(reason) {
			assert.Equal(t, name, doc.Suites[0].Cases[0].Name)
			assert.Equal(t, reason, doc.Suites[0].Cases[0].Failure.Text)
			assert.Equal(t, reason, doc.Suites[1].Cases[0].Skipped.Text)
		}
	})
}

// xmlSafe reports whether s is valid UTF-8 of XML 1.0 Chars only, without
// CR (which XML parsers normalize).
func xmlSafe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n':
		case r < 0x20 || r == '\r' || r == 0xFFFE || r == 0xFFFF || r == utf8.RuneError:
			return false
		case r >= 0xD800 && r <= 0xDFFF:
			return false
		}
	}
	return true
}
