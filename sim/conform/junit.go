package conform

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fpemu/fpemu/internal/buildinfo"
)

// JUnit XML, the de-facto schema CI systems read (Jenkins, GitLab, GitHub
// actions): <testsuites> holding one <testsuite> per Suite, one
// <testcase> per case, with a <failure> or <skipped> child. Times are
// seconds.
type (
	// JUnitCounts are the attributes <testsuites> and <testsuite> share:
	// a name, the counts of their cases and their time.
	JUnitCounts struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Errors   int    `xml:"errors,attr"`
		Time     string `xml:"time,attr"`
	}
	// JUnitSuites is the document element.
	JUnitSuites struct {
		XMLName xml.Name `xml:"testsuites"`
		JUnitCounts
		Suites []JUnitSuite `xml:"testsuite"`
	}
	// JUnitSuite is one <testsuite>.
	JUnitSuite struct {
		JUnitCounts
		Timestamp  string          `xml:"timestamp,attr,omitempty"`
		Properties []JUnitProperty `xml:"properties>property,omitempty"`
		Cases      []JUnitCase     `xml:"testcase"`
	}
	// JUnitProperty is one <property>.
	JUnitProperty struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	// JUnitCase is one <testcase>.
	JUnitCase struct {
		Name      string        `xml:"name,attr"`
		Classname string        `xml:"classname,attr"`
		Time      string        `xml:"time,attr"`
		Failure   *JUnitMessage `xml:"failure"`
		Skipped   *JUnitMessage `xml:"skipped"`
		// SystemOut carries the note of an adapted pass.
		SystemOut string `xml:"system-out,omitempty"`
	}
	// JUnitMessage is a <failure> or <skipped> element: the first line of
	// the reason as message, the whole reason as text.
	JUnitMessage struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr,omitempty"`
		Text    string `xml:",chardata"`
	}
)

// count adds a case of status st.
func (n *JUnitCounts) count(st Status) {
	n.Tests++
	switch st {
	case Fail:
		n.Failures++
	case Skip:
		n.Skipped++
	}
}

// readBuildInfo is what the JUnit properties report of the running
// binary; tests replace it so that golden files do not depend on the
// toolchain or commit.
var readBuildInfo = buildinfo.Read

func junitTime(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// JUnit returns the report as a JUnit document.
func (r *Report) JUnit() JUnitSuites {
	doc := JUnitSuites{JUnitCounts: JUnitCounts{Name: "fpemu conform", Time: junitTime(r.Duration)}}
	var props []JUnitProperty
	for _, p := range [][2]string{{"hal", r.Target.HAL}, {"gatekeeper", r.Target.Gatekeeper}, {"sensor", r.Target.Sensor}, {"keymaster", r.Target.Keymaster}} {
		if p[1] != "" {
			props = append(props, JUnitProperty{Name: p[0], Value: p[1]})
		}
	}
	props = append(props, JUnitProperty{Name: "self_booted", Value: fmt.Sprint(r.SelfBooted)})
	// The emulator that produced the report (fpemu version): module,
	// version, VCS revision and modified flag, Go version, platform.
	for _, p := range readBuildInfo().Properties() {
		props = append(props, JUnitProperty{Name: p[0], Value: p[1]})
	}
	index := map[Suite]int{}
	for _, c := range r.Results {
		i, ok := index[c.Suite]
		if !ok {
			i = len(doc.Suites)
			index[c.Suite] = i
			ts := ""
			if !r.Start.IsZero() {
				ts = r.Start.UTC().Format("2006-01-02T15:04:05")
			}
			doc.Suites = append(doc.Suites, JUnitSuite{JUnitCounts: JUnitCounts{Name: string(c.Suite)}, Timestamp: ts, Properties: props})
		}
		s := &doc.Suites[i]
		jc := JUnitCase{Name: c.Name, Classname: "fpemu.conform." + string(c.Suite), Time: junitTime(c.Duration)}
		msg := &JUnitMessage{Message: firstLine(c.Reason), Text: c.Reason}
		switch c.Status {
		case Fail:
			msg.Type = "AssertionFailure"
			jc.Failure = msg
		case Skip:
			if c.Reason == NotSelected {
				msg.Text = "" // <skipped message="not selected"/>
			}
			jc.Skipped = msg
		case Pass:
			jc.SystemOut = c.Reason
		}
		s.count(c.Status)
		doc.count(c.Status)
		s.Cases = append(s.Cases, jc)
	}
	for i := range doc.Suites {
		var d time.Duration
		for _, c := range r.Results {
			if string(c.Suite) == doc.Suites[i].Name {
				d += c.Duration
			}
		}
		doc.Suites[i].Time = junitTime(d)
	}
	return doc
}

// WriteJUnit writes the report as JUnit XML. Text that XML 1.0 cannot
// carry (control characters, invalid UTF-8) is replaced by U+FFFD, so
// the document is always well formed.
func (r *Report) WriteJUnit(w io.Writer) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(r.JUnit()); err != nil {
		return fmt.Errorf("conform: junit: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("conform: junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
