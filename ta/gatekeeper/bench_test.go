package gatekeeper

import (
	"context"
	"testing"

	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
)

func BenchmarkParseHandle(b *testing.B) {
	raw := (&gkproto.PasswordHandle{Version: 2, UserID: 1, Flags: 1, Salt: 2, HardwareBacked: true}).Marshal()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := gkproto.ParseHandle(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPasswordSignature(b *testing.B) {
	key := make([]byte, PasswordKeySize)
	h := gkproto.PasswordHandle{Version: 2, UserID: 1, Flags: 1, Salt: 2}
	pw := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		ComputePasswordSignature(key, &h, pw)
	}
}

// BenchmarkVerify is one successful VERIFY in process: two store
// transactions (count the attempt, clear the record) plus the signature and
// the token MAC.
func BenchmarkVerify(b *testing.B) {
	d := newDevice(b)
	ta := d.ready(b)
	e := enroll(b, ta, 1, []byte("correcthorsebatterystaple"))
	req := gkproto.VerifyPayload{Handle: e.Handle, Password: []byte("correcthorsebatterystaple")}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rsp, err := ta.Verify(ctx, 1, 42, req)
		if err != nil || rsp.Status != gkproto.StatusOK {
			b.Fatal(err, rsp.Status)
		}
	}
}
