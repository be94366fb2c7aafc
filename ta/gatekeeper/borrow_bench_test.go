package gatekeeper

import (
	"context"
	"testing"

	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/tatest"
)

// ownedParams is the TA as it was before it borrowed its memrefs: the
// host copies every input memref into bytes the TA owns.
type ownedParams struct{ *TA }

func (ownedParams) BorrowsParams() bool { return false }

// BenchmarkBorrowedParams compares one successful VERIFY served with owned
// and with borrowed memrefs (rpc.ParamBorrower), same process, Unix
// socket. The variants run one after the other in each round (-count), so
// the owned one is the floor of the borrowed one in the same run.
func BenchmarkBorrowedParams(b *testing.B) {
	pw := []byte("correcthorsebatterystaple")
	for _, v := range []string{"owned", "borrowed"} {
		b.Run("verify/"+v, func(b *testing.B) {
			d := newDevice(b)
			ta := d.ready(b)
			e := enroll(b, ta, 1, pw)
			var served rpc.TA = ta
			if v == "owned" {
				served = ownedParams{ta}
			}
			inv := tatest.ServeUnix(b, tee.UUIDGatekeeper, served)
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
