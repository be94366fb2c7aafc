package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// docSection is the part of the repository's document file (a path from
// the repository root) that starts at heading and ends before end — or,
// when end is "", before the next heading of heading's level (the end of
// the file if none), for the tests that keep a document and the tool in
// step. A missing heading or end fails the test.
func docSection(t *testing.T, file, heading, end string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", file))
	require.NoError(t, err)
	doc := string(raw)
	start := strings.Index(doc, heading)
	require.GreaterOrEqual(t, start, 0, "%s has no %q", file, heading)
	sec := doc[start:]
	if end == "" {
		level, _, _ := strings.Cut(heading, " ")
		if i := strings.Index(sec[1:], "\n"+level+" "); i >= 0 {
			sec = sec[:i+1]
		}
		return sec
	}
	i := strings.Index(sec, end)
	require.GreaterOrEqual(t, i, 0, "%s: %q does not end with %q", file, heading, end)
	return sec[:i]
}
