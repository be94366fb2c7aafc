package testkit

import (
	"os"
	"path/filepath"
	"strings"
)

// Leftovers is what a device run left behind under dir: every socket
// below it ("socket PATH") and every live process whose command line
// mentions dir ("process PID: ARGS", arguments space-separated). A zombie
// awaiting its parent's wait is not running and is not listed. An empty
// result is the clean stop the tools promise (no process or socket left).
func Leftovers(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type()&os.ModeSocket != 0 {
			out = append(out, "socket "+p)
		}
		return nil
	})
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !mentions(string(b), dir) {
			continue
		}
		pdir := filepath.Dir(p)
		if st, err := os.ReadFile(filepath.Join(pdir, "stat")); err == nil && strings.Contains(string(st), ") Z ") {
			continue
		}
		cmd := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		out = append(out, "process "+filepath.Base(pdir)+": "+cmd)
	}
	return out
}

// mentions reports whether cmdline names dir itself or a path below it:
// an occurrence of dir not followed by a character that would continue
// its last path component, so that /tmp/fpt12 does not match a process
// of /tmp/fpt123 (os.MkdirTemp's names differ in length).
func mentions(cmdline, dir string) bool {
	for i := 0; ; {
		j := strings.Index(cmdline[i:], dir)
		if j < 0 {
			return false
		}
		k := i + j + len(dir)
		if k == len(cmdline) || !continuesName(cmdline[k]) {
			return true
		}
		i = i + j + 1
	}
}

// continuesName reports whether c can be part of a file name component
// as fpemu and os.MkdirTemp spell them.
func continuesName(c byte) bool {
	return c == '.' || c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
