package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
)

// TestREADMETokenTour replays the `fpemu token` tour of README.md with the
// outputs the README prints, so the README cannot drift from the tool: the
// minted token, the decoded JSON, the malformed-length message and the
// verify results (stdout, stderr and exit status as shown there).
func TestREADMETokenTour(t *testing.T) {
	tour := testkit.DocSection(t, "README.md", "## Tour: `fpemu token`", "")

	// The key file of the tour: printf <64 hex digits> > hat.key.
	keyHex := regexp.MustCompile(`printf ([0-9a-f]{64}) > hat\.key`).FindStringSubmatch(tour)
	require.NotNil(t, keyHex, "tour writes hat.key")
	keyFile := writeKeyFile(t, []byte(keyHex[1]))

	token := regexp.MustCompile(`(?m)^\$ TOKEN=([0-9a-f]+)$`).FindStringSubmatch(tour)
	require.NotNil(t, token, "tour sets TOKEN")
	tok := token[1]

	// replay runs one "$ fpemu …" line of the tour and returns the lines
	// printed under it up to the next prompt or the end of the block.
	replay := func(cmdLine string) (args []string, stdin string, want []string) {
		t.Helper()
		i := strings.Index(tour, "$ "+cmdLine)
		require.GreaterOrEqual(t, i, 0, "README tour lacks %q", cmdLine)
		rest := tour[i+len("$ "+cmdLine):]
		rest = rest[strings.Index(rest, "\n")+1:]
		for _, line := range strings.Split(rest, "\n") {
			if strings.HasPrefix(line, "$ ") || strings.HasPrefix(line, "```") {
				break
			}
			want = append(want, line)
		}
		line := strings.ReplaceAll(cmdLine, "${TOKEN:0:136}", tok[:136])
		line = strings.ReplaceAll(line, "$TOKEN", tok)
		line = strings.TrimSuffix(line, `; echo "exit $?"`)
		if before, after, ok := strings.Cut(line, " | "); ok { // echo X | fpemu …
			stdin = strings.TrimPrefix(before, "echo ") + "\n"
			line = after
		}
		args = strings.Fields(strings.TrimPrefix(line, "fpemu "))
		for j, a := range args {
			if a == "hat.key" {
				args[j] = keyFile
			}
		}
		return args, stdin, want
	}
	// check compares a run with the README's lines: stdout, stderr, then
	// "exit N" when the README shows the status.
	check := func(cmdLine string) {
		t.Helper()
		args, stdin, want := replay(cmdLine)
		r := fpemu(t, stdin, args...)
		var got []string
		for _, s := range []string{r.stdout, r.stderr} {
			if s != "" {
				got = append(got, strings.Split(strings.TrimSuffix(s, "\n"), "\n")...)
			}
		}
		if strings.HasSuffix(cmdLine, `; echo "exit $?"`) {
			got = append(got, "exit "+strconv.Itoa(r.code))
		} else {
			require.Equal(t, 0, r.code, "%s: %s", cmdLine, r.stderr)
		}
		assert.Equal(t, want, got, cmdLine)
	}

	mint := regexp.MustCompile(`(?m)^\$ (fpemu token mint .*)$`).FindStringSubmatch(tour)
	require.NotNil(t, mint)
	check(mint[1])
	check("echo $TOKEN | fpemu token decode -")
	check(`fpemu token decode ${TOKEN:0:136}; echo "exit $?"`)
	check("fpemu token verify --key-file hat.key --challenge 42 --type fingerprint --sid 1001 --now 6000 --timeout 30 $TOKEN")
	check(`fpemu token verify --key-file hat.key --now 40000 --timeout 30 $TOKEN; echo "exit $?"`)
	check(`fpemu token verify --key-file hat.key --type password $TOKEN; echo "exit $?"`)
}
