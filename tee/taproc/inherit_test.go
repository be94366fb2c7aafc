package taproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// childEnv switches the test binary into a child that exercises Inherit.
const childEnv = "FPEMU_TAPROC_TEST_CHILD"

func TestMain(m *testing.M) {
	switch mode := os.Getenv(childEnv); mode {
	case "":
	case "run", "run-factory-fails":
		os.Exit(runEchoChild(mode))
	default:
		os.Exit(runInheritChild(mode))
	}
	os.Exit(m.Run())
}

// runInheritChild: Inherit, read the record, echo it (hex length and
// bytes) on stdout, signal readiness; exit 2 with the error on stderr when
// not launched.
func runInheritChild(string) int {
	in, err := Inherit()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, ErrNotLaunched) {
			return 2
		}
		return 1
	}
	defer in.Close()
	rec, err := in.ReadRecord()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, ErrRecordTooLarge) {
			return 3
		}
		return 1
	}
	if _, err := in.ReadRecord(); err == nil {
		return 1 // a second read must fail
	}
	fmt.Printf("record=%s\n", rec)
	if err := in.SignalReady(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func childCmd(ctx context.Context) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", childEnv+"=1")
	cmd.WaitDelay = time.Second
	return cmd
}

func pipeWith(t *testing.T, content []byte) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	go func() { _, _ = w.Write(content); w.Close() }()
	t.Cleanup(func() { r.Close() })
	return r
}

func TestInherit(t *testing.T) {
	regular := filepath.Join(t.TempDir(), "record")
	require.NoError(t, os.WriteFile(regular, []byte("x"), 0o600))

	tests := []struct {
		name       string
		extra      func(t *testing.T) []*os.File
		wantCode   int
		wantStdout string
		wantStderr string
		wantReady  bool
	}{
		{
			name:       "launched",
			extra:      func(t *testing.T) []*os.File { return nil }, // filled below
			wantStdout: "record=secret-record-bytes\n",
			wantReady:  true,
		},
		{
			name:       "by hand: no fd 3",
			extra:      func(*testing.T) []*os.File { return nil },
			wantCode:   2,
			wantStderr: "not started by the fpemu launcher",
		},
		{
			name: "fd 3 is a regular file",
			extra: func(t *testing.T) []*os.File {
				f, err := os.Open(regular)
				require.NoError(t, err)
				t.Cleanup(func() { f.Close() })
				return []*os.File{f, f}
			},
			wantCode:   2,
			wantStderr: "fd 3 is not a pipe",
		},
		{
			name: "no readiness pipe",
			extra: func(t *testing.T) []*os.File {
				return []*os.File{pipeWith(t, []byte("r"))}
			},
			wantCode:   2,
			wantStderr: "fd 4",
		},
		{
			name: "record too large",
			extra: func(t *testing.T) []*os.File {
				_, w, err := os.Pipe()
				require.NoError(t, err)
				t.Cleanup(func() { w.Close() })
				return []*os.File{pipeWith(t, bytes.Repeat([]byte{'a'}, MaxRecordSize+1)), w}
			},
			wantCode:   3,
			wantStderr: "too large",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := childCmd(ctx)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			var rdyR *os.File
			if tc.name == "launched" {
				r, w, err := os.Pipe()
				require.NoError(t, err)
				defer r.Close()
				cmd.ExtraFiles = []*os.File{pipeWith(t, []byte("secret-record-bytes")), w}
				require.NoError(t, cmd.Start())
				w.Close()
				rdyR = r
			} else {
				cmd.ExtraFiles = tc.extra(t)
				require.NoError(t, cmd.Start())
			}
			var ready []byte
			if rdyR != nil {
				ready, _ = io.ReadAll(rdyR)
			}
			err := cmd.Wait()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.wantCode, code, "stderr: %s", stderr.String())
			if tc.wantStdout != "" {
				assert.Equal(t, tc.wantStdout, stdout.String())
			}
			assert.Contains(t, stderr.String(), tc.wantStderr)
			if tc.wantReady {
				assert.Equal(t, ReadyLine+"\n", string(ready))
			}
			assert.False(t, strings.Contains(stderr.String(), "secret-record-bytes"))
		})
	}
}
