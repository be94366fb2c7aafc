package testkit

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDocSection(t *testing.T) {
	const file = "internal/testkit/testdata/section.md"
	tests := []struct {
		name, heading, end, want string
	}{
		{"to the next heading of its level, over deeper ones", "## 1. One", "",
			"## 1. One\n\none text\n\n### 1.1 Sub\n\nsub text\n\n**End here** after\n"},
		{"deeper heading ends at the next of a higher level", "### 1.1 Sub", "",
			"### 1.1 Sub\n\nsub text\n\n**End here** after\n"},
		{"last section runs to the end of the file", "## 2. Two", "", "## 2. Two\n\ntwo text\n"},
		{"explicit end", "### 1.1 Sub", "\n**End here**", "### 1.1 Sub\n\nsub text\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, DocSection(t, file, tc.heading, tc.end))
		})
	}
}

// TestDocSectionFails: a missing heading, end or file fails the test
// rather than returning a wrong section or panicking.
func TestDocSectionFails(t *testing.T) {
	for _, tc := range []struct{ name, file, heading, end string }{
		{"no heading", "internal/testkit/testdata/section.md", "## 3. Three", ""},
		{"no end", "internal/testkit/testdata/section.md", "## 2. Two", "**End here**"},
		{"no file", "internal/testkit/testdata/absent.md", "# Title", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := failNowTB{recordingTB{TB: t}} // t for Name; failures recorded, not reported
			done := make(chan struct{})
			go func() { // FailNow ends this goroutine, as testing.T's does
				defer close(done)
				DocSection(&r, tc.file, tc.heading, tc.end)
			}()
			<-done
			assert.True(t, r.failed, "the test did not fail")
			assert.NotEmpty(t, r.errors, "no reason given")
		})
	}
}

// failNowTB is recordingTB whose FailNow, as testing.T's, marks it failed
// and ends the calling goroutine.
type failNowTB struct{ recordingTB }

func (r *failNowTB) FailNow() {
	r.failed = true
	runtime.Goexit()
}
