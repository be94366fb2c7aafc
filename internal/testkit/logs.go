package testkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RequireOneComponent fails the test unless every line of logs is a JSON
// log line with exactly one top-level "component" key. zap does not
// replace a field added twice (a logger that already has a component
// handed to code that adds its own) but writes the key twice, and
// encoding/json keeps only the last, so the keys are counted from the
// token stream. It returns the number of lines checked.
func RequireOneComponent(t testing.TB, logs []byte) int {
	t.Helper()
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(logs))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		n++
		assert.Equal(t, 1, topLevelKeys(t, line, "component"), "log line %s", line)
	}
	require.NoError(t, sc.Err())
	return n
}

// topLevelKeys counts the top-level occurrences of key in the JSON object
// line.
func topLevelKeys(t testing.TB, line []byte, key string) int {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	tok, err := dec.Token()
	require.NoError(t, err, "log line %s", line)
	require.Equal(t, json.Delim('{'), tok, "log line %s", line)
	count := 0
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err, "log line %s", line)
		if k == key {
			count++
		}
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v), "log line %s", line)
	}
	return count
}
