package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// demoLine is one line of `fpemu demo --json`.
type demoLine struct {
	N       int            `json:"n"`
	Step    string         `json:"step"`
	OK      bool           `json:"ok"`
	Ms      float64        `json:"ms"`
	Details map[string]any `json:"details"`
}

// parseDemoLines checks that out is JSON lines of the documented shape,
// strictly (no unknown field, every field present), and returns them.
func parseDemoLines(t *testing.T, out []byte) []demoLine {
	t.Helper()
	var lines []demoLine
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var raw map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(sc.Bytes(), &raw), "line %q", sc.Text())
		for _, k := range []string{"n", "step", "ok", "ms", "details"} {
			require.Contains(t, raw, k, "line %q", sc.Text())
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var l demoLine
		require.NoError(t, dec.Decode(&l))
		require.Equal(t, len(lines)+1, l.N, "steps numbered in order")
		require.NotEmpty(t, l.Step)
		require.GreaterOrEqual(t, l.Ms, 0.0)
		lines = append(lines, l)
	}
	require.NoError(t, sc.Err())
	return lines
}

// devicePIDs returns the pids the steps report: the TAs (boot step), the
// HAL and the payment server, by the steps' names.
func devicePIDs(t *testing.T, lines []demoLine) map[string]int {
	t.Helper()
	pids := map[string]int{}
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l.Step, "boot TAs"):
			for _, role := range []string{"keymaster", "gatekeeper", "fingerprint", "payment"} {
				v, ok := l.Details[role].(float64)
				require.True(t, ok, "the boot step reports the %s pid: %v", role, l.Details)
				pids[role] = int(v)
			}
		case strings.HasPrefix(l.Step, "start the HAL"):
			if v, ok := l.Details["pid"].(float64); ok {
				pids["hal"] = int(v)
			}
		case strings.HasPrefix(l.Step, "fpemu server"):
			if v, ok := l.Details["pid"].(float64); ok {
				pids["server"] = int(v)
			}
		}
	}
	require.NotEmpty(t, pids, "no step reported a pid")
	return pids
}

// gone reports whether pid is no longer a live process (absent or a
// zombie).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

func assertNothingLeft(t *testing.T, pids map[string]int, dir string) {
	t.Helper()
	for role, pid := range pids {
		assert.True(t, gone(pid), "%s (pid %d) still running", role, pid)
	}
	ents, err := os.ReadDir(filepath.Join(dir, "sock"))
	if !errors.Is(err, os.ErrNotExist) {
		require.NoError(t, err)
	}
	for _, e := range ents {
		assert.Zero(t, e.Type()&os.ModeSocket, "socket %s left", e.Name())
	}
}

func runDemo(t *testing.T, bin string, args ...string) (int, []byte, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	code, stdout, stderr := runCmd(t, exec.CommandContext(ctx, bin, append([]string{"demo"}, args...)...))
	return code, []byte(stdout), stderr
}

// TestDemoBinary runs the built fpemu binary's demo the way the README
// says, with each output mode, and interrupted.
func TestDemoBinary(t *testing.T) {
	bin := builtFpemu(t)
	t.Run("json", func(t *testing.T) { testDemoJSON(t, bin) })
	t.Run("text", func(t *testing.T) { testDemoText(t, bin) })
	t.Run("sigint", func(t *testing.T) { testDemoSIGINT(t, bin, `"n":5,`) })
	t.Run("sigint-with-server", func(t *testing.T) { testDemoSIGINT(t, bin, `"step":"merchant order`) })
}

// testDemoJSON: `fpemu demo --json` exits 0 with one well-formed object per
// step, every step ok, and afterwards none of the device's processes is
// alive and no socket is left; without --keep the device directory is
// gone, with it the directory stays (socket-free) and its path is printed.
func testDemoJSON(t *testing.T, bin string) {
	code, out, stderr := runDemo(t, bin, "--json")
	require.Equal(t, 0, code, "stderr:\n%s\nstdout:\n%s", stderr, out)
	lines := parseDemoLines(t, out)
	require.GreaterOrEqual(t, len(lines), 20)
	for _, l := range lines {
		assert.True(t, l.OK, "step %d %s: %v", l.N, l.Step, l.Details)
	}
	assert.Contains(t, lines[len(lines)-1].Step, "no process or socket left")
	dir, _ := lines[0].Details["dir"].(string)
	require.NotEmpty(t, dir)
	pids := devicePIDs(t, lines)
	assert.Contains(t, pids, "server", "the demo ran fpemu server as a process")
	assertNothingLeft(t, pids, dir)
	_, err := os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "temporary device directory removed")

	keep := filepath.Join(shortTempDir(t), "dev")
	code, out, stderr = runDemo(t, bin, "--json", "--keep", keep)
	require.Equal(t, 0, code, stderr)
	lines = parseDemoLines(t, out)
	assert.Equal(t, keep, lines[0].Details["dir"])
	assert.Contains(t, stderr, "device directory kept: "+keep)
	assertNothingLeft(t, devicePIDs(t, lines), keep)
	assert.FileExists(t, filepath.Join(keep, "fused.key"))

	code, out, stderr = runDemo(t, bin, "--keep", keep)
	assert.Equal(t, exitUsage, code, "a used device directory is refused")
	assert.Empty(t, string(out))
	assert.Contains(t, stderr, "not empty")
}

// testDemoText checks the human trace: a title, numbered steps with
// right-aligned timings, and the verdict.
func testDemoText(t *testing.T, bin string) {
	code, out, stderr := runDemo(t, bin)
	require.Equal(t, 0, code, "stderr:\n%s\nstdout:\n%s", stderr, out)
	text := string(out)
	assert.True(t, strings.HasPrefix(text, "fpemu demo: "), text)
	var ends []int
	for _, line := range strings.Split(text, "\n") {
		if len(line) > 3 && line[2] == '.' && strings.HasSuffix(line, " ms") {
			ends = append(ends, len([]rune(line)))
		}
	}
	require.GreaterOrEqual(t, len(ends), 20, text)
	for _, e := range ends {
		assert.Equal(t, ends[0], e, "timings right-aligned:\n%s", text)
	}
	assert.Contains(t, text, "steps ok in")
	assert.Empty(t, stderr)
}

// testDemoSIGINT interrupts a run after the step whose JSON line contains
// mark: the command exits 1 with a message naming the interrupted step,
// and stops every process (the payment server's too once it runs).
func testDemoSIGINT(t *testing.T, bin, mark string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "demo", "--json")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	var got bytes.Buffer
	rd := bufio.NewReader(stdout)
	for {
		line, err := rd.ReadBytes('\n')
		got.Write(line)
		if err != nil {
			_ = cmd.Wait() // stderr is complete (and no longer written) after Wait
			t.Fatalf("demo ended before %s: %v\nstdout:\n%s\nstderr:\n%s", mark, err, got.String(), stderr.String())
		}
		if bytes.Contains(line, []byte(mark)) {
			break
		}
	}
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	rest, _ := io.ReadAll(rd)
	got.Write(rest)
	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "exit status")
	assert.Equal(t, 1, ee.ExitCode())
	assert.Contains(t, stderr.String(), "interrupted")
	lines := parseDemoLines(t, got.Bytes())
	assert.False(t, lines[len(lines)-1].OK, "the interrupted step is reported failed")
	dir, _ := lines[0].Details["dir"].(string)
	assertNothingLeft(t, devicePIDs(t, lines), dir)
	_, err = os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist)
}
