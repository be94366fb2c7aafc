package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeviceUpExecUsage: every bad --exec (and --no-hal with --exec hal)
// is a usage error, exit 2, that names the value and what is wrong with
// it, before anything is started or the device directory touched.
func TestDeviceUpExecUsage(t *testing.T) {
	tmp := shortTempDir(t)
	exe := filepath.Join(tmp, "vendor-ta")
	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\nexit 0\n"), 0o700))
	plain := filepath.Join(tmp, "plain")
	require.NoError(t, os.WriteFile(plain, []byte("data"), 0o600))
	dev := filepath.Join(tmp, "dev") // never created: usage errors come first

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no equals", []string{"--exec", "keymaster"}, `want ROLE=PATH, ROLE one of hal, keymaster, gatekeeper, fingerprint, payment`},
		{"empty path", []string{"--exec", "keymaster="}, "want ROLE=PATH"},
		{"empty role", []string{"--exec", "=" + exe}, "want ROLE=PATH"},
		{"unknown role", []string{"--exec", "sensor=" + exe}, `unknown role "sensor"; ROLE is one of hal, keymaster, gatekeeper, fingerprint, payment`},
		{"role case", []string{"--exec", "Keymaster=" + exe}, `unknown role "Keymaster"`},
		{"relative path", []string{"--exec", "keymaster=bin/vendor-ta"}, `PATH "bin/vendor-ta" is relative; give an absolute path`},
		{"missing file", []string{"--exec", "gatekeeper=" + filepath.Join(tmp, "none")}, "no such file or directory"},
		{"directory", []string{"--exec", "gatekeeper=" + tmp}, "not an executable file (it is a directory)"},
		{"not executable", []string{"--exec", "fingerprint=" + plain}, "not an executable file (mode -rw-------"},
		{"duplicate role", []string{"--exec", "payment=" + exe, "--exec", "payment=" + exe}, "role payment already runs " + exe + "; give each role once"},
		{"hal with no-hal", []string{"--no-hal", "--exec", "hal=" + exe}, "--no-hal starts no HAL; drop one of them"},
		{"ready timeout", []string{"--ready-timeout", "0s"}, "--ready-timeout: must be > 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"device", "up", "--dir", dev}, tc.args...)
			code := run(args, strings.NewReader(""), &out, &errb)
			assert.Equal(t, exitUsage, code, errb.String())
			assert.Contains(t, errb.String(), tc.want)
			assert.NoDirExists(t, dev, "a usage error touches nothing")
		})
	}
}

// TestParseExecs: the accepted forms, cleaned, by role.
func TestParseExecs(t *testing.T) {
	tmp := shortTempDir(t)
	exe := filepath.Join(tmp, "v")
	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755))
	got, err := parseExecs([]string{"hal=" + exe, "fingerprint=" + tmp + "/./v"}, false)
	require.NoError(t, err)
	assert.Equal(t, vendorExecs{"hal": exe, "fingerprint": exe}, got)
	assert.Equal(t, exe, got.exe("hal", "fpemu"))
	assert.Equal(t, "fpemu", got.exe("keymaster", "fpemu"))
	got, err = parseExecs(nil, true)
	require.NoError(t, err)
	assert.Empty(t, got)
}

// TestConformDeviceWithHAL: --hal goes with --device (a vendor HAL beside
// a `device up --no-hal`), but not beside a running fpemu HAL, and a
// --no-hal device without --hal says what to add.
func TestConformDeviceWithHAL(t *testing.T) {
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "sock")
	require.NoError(t, os.Mkdir(sock, 0o700))
	listen := func(name string) {
		l, err := net.Listen("unix", filepath.Join(sock, name))
		require.NoError(t, err)
		t.Cleanup(func() { _ = l.Close() })
	}
	listen("fingerprint.sock")
	vendor := filepath.Join(dir, "vendor-hal.sock")

	tgt, err := deviceTarget(dir, vendor)
	require.NoError(t, err)
	assert.Equal(t, vendor, tgt.HAL)
	assert.Equal(t, filepath.Join(sock, "gatekeeper.sock"), tgt.Gatekeeper)
	assert.Equal(t, filepath.Join(sock, "keymaster.sock"), tgt.Keymaster)
	assert.Equal(t, filepath.Join(sock, "fingerprint-sensor.sock"), tgt.Sensor)

	_, err = deviceTarget(dir, "")
	require.ErrorContains(t, err, "runs no HAL (fpemu device up --no-hal): give your HAL's socket with --hal")

	listen("hal.sock")
	_, err = deviceTarget(dir, vendor)
	require.ErrorContains(t, err, `also runs fpemu's HAL (`+filepath.Join(sock, "hal.sock")+`), whose event pump takes the fingerprint TA's events`)
	tgt, err = deviceTarget(dir, filepath.Join(sock, "hal.sock"))
	require.NoError(t, err, "--hal naming the device's own HAL is --device alone")
	assert.Equal(t, filepath.Join(sock, "hal.sock"), tgt.HAL)

	var out, errb bytes.Buffer
	code := run([]string{"conform", "--device", dir, "--hal", vendor}, strings.NewReader(""), &out, &errb)
	assert.Equal(t, exitUsage, code, errb.String())
	assert.Contains(t, errb.String(), "fpemu device up --no-hal")
}
