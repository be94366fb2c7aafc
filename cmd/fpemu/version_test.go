package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/buildinfo"
)

func TestVersionInProcess(t *testing.T) {
	r := fpemu(t, "", "version", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var got buildinfo.Info
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	assert.Equal(t, buildinfo.Read(), got)

	r = fpemu(t, "", "version")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, k := range []string{"module", "version", "revision", "time", "modified", "go", "platform"} {
		assert.Regexp(t, "(?m)^"+k+" +", r.stdout)
	}
	assert.Equal(t, exitUsage, fpemu(t, "", "version", "--bogus").code)
}

// TestVersionBinary: a binary built with VCS stamping (go build's
// default in a Git work tree; this machine's go env turns it off, so the
// test asks for it) names its module, the commit it was built from, whether
// the tree was modified, and the toolchain.
func TestVersionBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	head, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not in a Git work tree with git installed (%v): nothing to stamp", err)
	}
	status, err := exec.CommandContext(ctx, "git", "status", "--porcelain").Output()
	require.NoError(t, err)
	top, err := exec.CommandContext(ctx, "git", "rev-parse", "--show-toplevel").Output()
	require.NoError(t, err)
	// The go command stamps only a checkout whose .git is a directory: not
	// a linked worktree or submodule, whose .git is a file.
	fi, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git"))
	stamped := err == nil && fi.IsDir()
	bin := filepath.Join(t.TempDir(), "fpemu")
	out, err := exec.CommandContext(ctx, "go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	code, stdout, stderr := runCmd(t, exec.CommandContext(ctx, bin, "version", "--json"))
	require.Equal(t, 0, code, stderr)
	var got buildinfo.Info
	require.NoError(t, json.Unmarshal([]byte(stdout), &got))
	assert.Equal(t, "github.com/fpemu/fpemu", got.Module)
	assert.NotEmpty(t, got.Version)
	assert.Equal(t, runtime.Version(), got.GoVersion)
	if !stamped {
		t.Logf("%s/.git is not a directory (a linked worktree): go build records no VCS facts", strings.TrimSpace(string(top)))
		assert.Equal(t, buildinfo.Unknown, got.Revision)
		return
	}
	assert.Equal(t, strings.TrimSpace(string(head)), got.Revision, "vcs.revision is the checked-out commit")
	assert.Equal(t, len(status) > 0, got.Modified, "vcs.modified is git status --porcelain's verdict")
	assert.NotEmpty(t, got.Time)

	code, stdout, stderr = runCmd(t, exec.CommandContext(ctx, bin, "version"))
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, got.Revision)
}
