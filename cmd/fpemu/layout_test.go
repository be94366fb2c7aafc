package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
)

// layoutEntry is one path of docs/protocol.md §7.1, placeholders expanded.
type layoutEntry struct {
	mode os.FileMode // kind and permission bits
	kept bool        // still there after a clean shutdown
}

// protocolLayout reads the device-directory table of docs/protocol.md §7.1
// and expands <role> and <store> as the section defines them.
func protocolLayout(t *testing.T) map[string]layoutEntry {
	t.Helper()
	sec := testkit.DocSection(t, "docs/protocol.md", "### 7.1 Device directory", "")

	roles := []string{"keymaster", "gatekeeper", "fingerprint", "payment"}
	stores := []string{"gatekeeper", "fingerprint", "payment"}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| (file|dir|socket) `(0[0-7]{3})` \\|.*\\| (kept|removed) \\|$")
	rows := row.FindAllStringSubmatch(sec, -1)
	require.NotEmpty(t, rows, "§7.1 table not found")
	out := map[string]layoutEntry{}
	for _, r := range rows {
		var perm uint64
		for _, c := range r[3][1:] {
			perm = perm*8 + uint64(c-'0')
		}
		e := layoutEntry{mode: os.FileMode(perm), kept: r[4] == "kept"}
		switch r[2] {
		case "dir":
			e.mode |= fs.ModeDir
		case "socket":
			e.mode |= fs.ModeSocket
		}
		paths := []string{strings.TrimSuffix(r[1], "/")}
		for ph, vals := range map[string][]string{"<role>": roles, "<store>": stores} {
			var next []string
			for _, p := range paths {
				if !strings.Contains(p, ph) {
					next = append(next, p)
					continue
				}
				for _, v := range vals {
					next = append(next, strings.ReplaceAll(p, ph, v))
				}
			}
			paths = next
		}
		for _, p := range paths {
			out[p] = e
		}
	}
	return out
}

// deviceTree lists every entry under dir with its kind and permissions.
func deviceTree(t *testing.T, dir string) map[string]os.FileMode {
	t.Helper()
	got := map[string]os.FileMode{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		got[rel] = fi.Mode() & (fs.ModeType | fs.ModePerm)
		return nil
	}))
	return got
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestDeviceDirMatchesProtocol boots a device with the real binary (`fpemu
// device up`) and checks that its directory holds exactly the entries
// docs/protocol.md §7.1 lists, with their kinds and modes, and after a
// clean shutdown exactly those the table marks kept.
func TestDeviceDirMatchesProtocol(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	want := protocolLayout(t)
	bin := fpemuBin.Path(t)
	dir := shortTempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	up := startDeviceUp(t, ctx, bin, dir)

	running := deviceTree(t, dir)
	assert.Equal(t, sortedKeys(want), sortedKeys(running), "entries of a running device vs §7.1")
	for p, e := range want {
		if m, ok := running[p]; ok {
			assert.Equal(t, e.mode.String(), m.String(), "%s: kind and mode", p)
		}
	}

	up.interrupt(t, ctx)
	kept := map[string]layoutEntry{}
	for p, e := range want {
		if e.kept {
			kept[p] = e
		}
	}
	assert.Equal(t, sortedKeys(kept), sortedKeys(deviceTree(t, dir)), "entries after shutdown vs §7.1 'kept'")
}
