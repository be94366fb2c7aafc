package gatekeeper

import (
	"context"
	"testing"

	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/tatest"
)

// BenchmarkBorrowedParams compares one successful VERIFY served with owned
// and with borrowed memrefs (rpc.ParamBorrower), same process, Unix
// socket. The variants run one after the other in each round (-count), so
// the owned one is the floor of the borrowed one in the same run.
func BenchmarkBorrowedParams(b *testing.B) {
	pw := []byte("correcthorsebatterystaple")
	for _, v := range tatest.ParamVariants {
		b.Run("verify/"+v, func(b *testing.B) {
			d := newDevice(b)
			ta := d.ready(b)
			e := enroll(b, ta, 1, pw)
			inv := tatest.ServeUnix(b, tee.UUIDGatekeeper, tatest.WithParams(ta, v))
			req := gkproto.Verify{UID: 1, Challenge: 42, Handle: e.Handle, Password: pw}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				rsp, err := req.Execute(ctx, inv)
				if err != nil || rsp.Status != gkproto.StatusOK {
					b.Fatal(err, rsp.Status)
				}
			}
		})
	}
}
