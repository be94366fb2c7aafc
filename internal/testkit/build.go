package testkit

import (
	"context"
	"os/exec"
	"path"
	"path/filepath"
	"testing"
	"time"
)

// FpemuPackage is the import path of the fpemu command. It is only a
// string: the kit links nothing of fpemu.
const FpemuPackage = "github.com/fpemu/fpemu/cmd/fpemu"

// BuildTimeout bounds one go build, so a wedged build fails the test
// instead of hanging it.
const BuildTimeout = 5 * time.Minute

// BuildFpemu builds the fpemu command into dir and returns the binary's
// path (dir/fpemu), for the tests that run `fpemu …` as its own process.
func BuildFpemu(tb testing.TB, dir string) string {
	tb.Helper()
	return Build(tb, dir, FpemuPackage)
}

// Build builds the main package pkg (an import path) into dir and returns
// the binary's path, named after pkg's last element; flags go to go build
// before -o (e.g. "-ldflags", "-X main.buildTag=NAME"). Without a go tool
// on PATH the test is Unavailable; a failed build fails it with go's
// output.
func Build(tb testing.TB, dir, pkg string, flags ...string) string {
	tb.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		Unavailable(tb, "no go tool on PATH to build %s", pkg)
		return ""
	}
	exe := filepath.Join(dir, path.Base(pkg))
	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	defer cancel()
	args := append(append([]string{"build"}, flags...), "-o", exe, pkg)
	out, err := exec.CommandContext(ctx, goTool, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("testkit: go build %s: %v\n%s", pkg, err, out)
		return ""
	}
	return exe
}
