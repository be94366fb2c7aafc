package testkit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// DocSection is the part of the repository's document file (a path from
// the repository root, the nearest directory above the test's working
// directory holding go.mod) that starts at heading and ends before end —
// or, when end is "", before the next heading of heading's level or a
// higher one (the end of the file if none) — for the tests that keep a document (README.md,
// docs/protocol.md) and the code in step. A missing file, heading or end
// fails tb.
func DocSection(tb testing.TB, file, heading, end string) string {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(tb), filepath.FromSlash(file)))
	require.NoError(tb, err)
	doc := string(raw)
	start := strings.Index(doc, heading)
	require.GreaterOrEqual(tb, start, 0, "%s has no %q", file, heading)
	sec := doc[start:]
	if end == "" {
		level, _, _ := strings.Cut(heading, " ")
		for i := strings.Index(sec, "\n"); i >= 0; {
			line := sec[i+1:]
			if h, _, ok := strings.Cut(line, " "); ok && h != "" && len(h) <= len(level) && strings.Trim(h, "#") == "" {
				return sec[:i]
			}
			j := strings.Index(line, "\n")
			if j < 0 {
				break
			}
			i += 1 + j
		}
		return sec
	}
	i := strings.Index(sec, end)
	require.GreaterOrEqual(tb, i, 0, "%s: %q does not end with %q", file, heading, end)
	return sec[:i]
}

// repoRoot is the nearest directory holding go.mod at or above the working
// directory (a package's directory under go test).
func repoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	require.NoError(tb, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(tb, dir, parent, "no go.mod above the working directory")
		dir = parent
	}
}
