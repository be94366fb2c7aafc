package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/sim/load"
)

// TestLoadUsage: fpemu load and fpemu load init refuse a configuration
// they cannot run with exit status 2 and a message naming the problem,
// before any device boots or anything is dialled.
func TestLoadUsage(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no dir", []string{"load", "--server", "127.0.0.1:1", "--http", "127.0.0.1:2"}, "--dir, --server and --http are required"},
		{"no server", []string{"load", "--dir", empty, "--http", "127.0.0.1:2"}, "--dir, --server and --http are required"},
		{"bad server", []string{"load", "--dir", empty, "--server", "nowhere", "--http", "127.0.0.1:2"}, `server "nowhere"`},
		{"devices", []string{"load", "--dir", empty, "--devices", "0", "--server", "127.0.0.1:1", "--http", "127.0.0.1:2"}, "devices must be 1..1024"},
		{"payments", []string{"load", "--dir", empty, "--payments", "0", "--server", "127.0.0.1:1", "--http", "127.0.0.1:2"}, "payments must be"},
		{"not provisioned", []string{"load", "--dir", empty, "--server", "127.0.0.1:1", "--http", "127.0.0.1:2"}, "fpemu load init"},
		{"argument", []string{"load", "extra"}, "unknown command"},
		{"init no ca", []string{"load", "init", "--dir", empty}, "--dir and --ca are required"},
		{"init bad ca", []string{"load", "init", "--dir", empty, "--ca", empty}, "--ca:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			assert.Equal(t, exitUsage, run(tc.args, nil, &stdout, &stderr), "stderr: %s", stderr.String())
			assert.Contains(t, stderr.String(), tc.stderr)
			assert.Empty(t, stdout.String())
		})
	}
}

// TestLoadReportText: the text report names throughput, the percentiles,
// the servers' shares and every refusal rule and error.
func TestLoadReportText(t *testing.T) {
	rep := &load.Report{Devices: 2, Servers: []string{"a:1", "b:2"}, Payments: 10, Booked: 7, Errors: 1,
		FirstError: "device 1: EOF", Refused: map[string]int{"counter": 2}, PerServer: map[string]int{"a:1": 4, "b:2": 3},
		PerSecond: 12.5}
	var b bytes.Buffer
	require.NoError(t, writeLoadReport(&b, rep))
	out := b.String()
	for _, want := range []string{"7 booked of 10", "12.5 payments/s", "p50", "p99", "a:1", "4 booked", "b:2", "3 booked",
		"refused      counter: 2", "errors       1 (first: device 1: EOF)"} {
		assert.Contains(t, out, want)
	}
	assert.Less(t, strings.Index(out, "a:1"), strings.Index(out, "b:2"), "servers in order")
}
