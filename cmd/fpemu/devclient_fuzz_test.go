package main

import (
	"bytes"
	"testing"

	"github.com/fpemu/fpemu/sim/finger"
)

var fuzzFinger = finger.New(7)

// FuzzPasswordInput: whatever arrives on stdin, `gatekeeper enroll` ends
// with a usage error (bad input) or, for well-formed input, an unreachable
// socket — never a panic — and never prints the input.
func FuzzPasswordInput(f *testing.F) {
	for _, s := range []string{"1234\n", "", "\n", "a\nb\n", "pw", "\x00\xff\n", string(bytes.Repeat([]byte("s"), 300))} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	handle := "02" + string(bytes.Repeat([]byte("00"), 57))
	f.Fuzz(func(t *testing.T, in []byte, reenroll bool) {
		args := []string{"gatekeeper", "enroll", "--socket", "/nonexistent/fpemu-fuzz.sock"}
		if reenroll {
			args = append(args, "--current-handle", handle)
		}
		r := fpemu(t, string(in), args...)
		if r.code != exitUsage && r.code != exitUnreachable {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		// The outcome may depend on the input's shape (lines, lengths),
		// never on its bytes: the same shape of other bytes prints the same.
		masked := bytes.Map(func(r rune) rune {
			if r == '\n' {
				return r
			}
			return 'Q'
		}, bytes.ToValidUTF8(in, []byte("?")))
		if bytes.Equal(bytes.ToValidUTF8(in, []byte("?")), in) && len(masked) == len(in) {
			m := fpemu(t, string(masked), args...)
			if m.code != r.code || m.stdout != r.stdout || m.stderr != r.stderr {
				t.Fatalf("output depends on the password bytes:\n%s\nvs\n%s", r.stderr, m.stderr)
			}
		}
	})
}

// FuzzSampleFile: any --sample input is a usage error (not hex, too
// large) or reaches the socket (exit 4 here), never a panic.
func FuzzSampleFile(f *testing.F) {
	for _, s := range []string{"FPSA\x01\x00\x00\xc8\x00\xc8", "46505341 01 00 00c8 00c8 # comment\n", "zz", "", "# only\n", "4650534"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := fpemu(t, string(in), "sensor", "present", "--socket", "/nonexistent/fpemu-fuzz.sock", "--sample", "-")
		if r.code != exitUsage && r.code != exitUnreachable {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	})
}

// FuzzTouchAndFault: the --touch and fault ERROR parsers never panic.
func FuzzTouchAndFault(f *testing.F) {
	for _, s := range []string{"nominal", "enroll:3", "probe:0x10", "enroll:", ":", "hw-unavailable", "ERROR_VENDOR", "-1", "99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseTouch(fuzzFinger, s)
		_, _ = parseFaultCode(s)
	})
}
