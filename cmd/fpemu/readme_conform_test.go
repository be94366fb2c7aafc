package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/sim/conform"
)

// TestREADMEConformNeedsTable: the bring-your-own-HAL table of README's
// Conformance section lists every conform case exactly once, under the
// sockets it needs (conform.Case.Needs), so the recipe cannot drift from
// the suite.
func TestREADMEConformNeedsTable(t *testing.T) {
	sec := testkit.DocSection(t, "README.md", "### Bring your own HAL", "\n**A vendor binary")
	rows := regexp.MustCompile("(?m)^\\| (none|`[^|]+`) \\| (.+) \\|$").FindAllStringSubmatch(sec, -1)
	require.NotEmpty(t, rows)

	listed := map[string]string{} // case → its row's sockets
	for _, r := range rows {
		needs := strings.Trim(r[1], "`")
		for _, c := range regexp.MustCompile(`[,;] `).Split(r[2], -1) {
			c = strings.Trim(c, "`")
			if c == "every `vts/` case" {
				c = "vts/*"
			}
			_, dup := listed[c]
			assert.False(t, dup, "%s listed twice", c)
			listed[c] = needs
		}
	}
	for _, c := range conform.Cases() {
		want := strings.Join(c.Needs.Flags(), " ")
		if want == "" {
			want = "none"
		}
		key := c.FullName()
		if c.Suite == conform.SuiteVTS {
			require.Equal(t, "none", want, "%s: the table says every vts case needs the HAL only", key)
			key = "vts/*"
		}
		got, ok := listed[key]
		if assert.True(t, ok, "%s is in the table", key) {
			assert.Equal(t, want, got, key)
		}
	}
	var names []string
	for _, c := range conform.Cases() {
		names = append(names, c.FullName())
	}
	for c := range listed {
		assert.True(t, c == "vts/*" || slices.Contains(names, c), "the table lists %s, which is no case", c)
	}
}
