package testkit

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuild(t *testing.T) {
	dir := t.TempDir()
	exe := Build(t, dir, "github.com/fpemu/fpemu/internal/testkit/testdata/hello")
	assert.Equal(t, filepath.Join(dir, "hello"), exe)
	out, err := exec.Command(exe).Output()
	require.NoError(t, err)
	assert.Equal(t, "hello\n", string(out), "the built program runs")

	// A package that does not build fails the test, quoting go.
	rec := &recordingTB{}
	assert.Empty(t, Build(rec, dir, "github.com/fpemu/fpemu/internal/testkit/testdata/nosuch"))
	assert.True(t, rec.failed)
	require.Len(t, rec.errors, 1)
	assert.True(t, strings.Contains(rec.errors[0], "testdata/nosuch"), rec.errors[0])
}
