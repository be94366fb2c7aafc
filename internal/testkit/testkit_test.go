package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const childEnv = "FPEMU_TESTKIT_TEST_CHILD"

func TestMain(m *testing.M) {
	Main(m, childEnv, func(mode string) int {
		switch mode {
		case "echo":
			fmt.Fprint(os.Stderr, os.Getenv(childEnv+"_WORD"))
			return 0
		case "serve", "silent", "die":
			return runProcChild(mode)
		default:
			return 3
		}
	})
}

func TestBufferConcurrentWriters(t *testing.T) {
	var b Buffer
	WriteConcurrently(&b, 8, 100, []byte("x"), func() { _ = b.String() })
	assert.Equal(t, 800, b.Len())
	assert.Equal(t, strings.Repeat("x", 800), b.String())
}

func TestChildCommand(t *testing.T) {
	tests := []struct {
		name string
		mode string
		code int
		want string
	}{
		{"runs the mode", "echo", 0, "hello"},
		{"unknown mode", "nope", 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := ChildCommand(childEnv+"="+tt.mode, childEnv+"_WORD=hello")
			assert.Contains(t, cmd.Env, NoRaceExitDelay)
			var stderr Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			assert.Equal(t, tt.code, cmd.ProcessState.ExitCode(), "%v", err)
			assert.Equal(t, tt.want, stderr.String())
		})
	}
}

func TestShortDirAndContext(t *testing.T) {
	var dir string
	t.Run("inner", func(t *testing.T) {
		dir = ShortDir(t)
		assert.Less(t, len(filepath.Join(dir, "sock", "fingerprint-sensor.sock")), 107)
		ctx := Context(t, time.Minute)
		_, ok := ctx.Deadline()
		assert.True(t, ok)
	})
	_, err := os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist, "removed when the test ends")
}

func TestReadJSONAndUnhex(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "v.json")
	require.NoError(t, os.WriteFile(path, []byte(`[{"name":"a","hex":"00 a4 04"}]`), 0o600))
	type vector struct{ Name, Hex string }
	vs := ReadJSON[[]vector](t, path)
	require.Equal(t, []vector{{"a", "00 a4 04"}}, vs)
	assert.Equal(t, []byte{0x00, 0xa4, 0x04}, Unhex(t, vs[0].Hex))
}

func TestForeignExecutable(t *testing.T) {
	p := ForeignExecutable(t)
	fi, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
	di, err := os.Stat(filepath.Dir(p))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), di.Mode().Perm())
	self, err := os.Stat(os.Args[0])
	require.NoError(t, err)
	assert.Equal(t, self.Size(), fi.Size())
}

func TestReadHex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.hex")
	require.NoError(t, os.WriteFile(path, []byte("# header\n01 02 # two bytes\n\n  0a0B\n"), 0o600))
	assert.Equal(t, []byte{1, 2, 0x0a, 0x0b}, ReadHex(t, path))
}

// TestRequireOneComponent counts the component keys zap writes, including
// one written twice.
func TestRequireOneComponent(t *testing.T) {
	tests := []struct {
		name string
		line string
		want int
	}{
		{"one", `{"level":"info","component":"ca","msg":"x"}`, 1},
		{"none", `{"level":"info","msg":"x"}`, 0},
		{"twice", `{"component":"ca","component":"ca","msg":"x"}`, 2},
		{"nested not counted", `{"component":"ca","f":{"component":"x"}}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, topLevelKeys(t, []byte(tt.line), "component"))
		})
	}
	assert.Equal(t, 2, RequireOneComponent(t, []byte(tests[0].line+"\n\n"+tests[0].line+"\n")))
}

// TestSVGTexts: the text elements' character data in document order.
func TestSVGTexts(t *testing.T) {
	doc := `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><g><text x="1">FAR</text><line/><text>FRR &amp; FAR</text></g></svg>`
	assert.Equal(t, []string{"FAR", "FRR & FAR"}, SVGTexts(t, []byte(doc)))
}
