package payment

import (
	"bytes"
	"testing"

	"github.com/fpemu/fpemu/bio/payment/chantest"
	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/tatest"
)

// BenchmarkBorrowedParams compares the payment TA served with owned and
// with borrowed memrefs (rpc.ParamBorrower), same process, Unix socket:
// CHANNEL_SEAL of 1 KiB of custom information on an established gm-fs
// channel (SM2 signature, SM4-GCM), and DELIVER of an auth result envelope
// (SM4-GCM open, replay mark committed in a store transaction; the
// envelope is sealed with the timer stopped). The variants of a command
// run one after the other in each round (-count), so the owned one is the
// floor of the borrowed one in the same run.
func BenchmarkBorrowedParams(b *testing.B) {
	for _, cmd := range []string{"channelSeal1KiB", "deliver"} {
		for _, v := range tatest.ParamVariants {
			b.Run(cmd+"/"+v, func(b *testing.B) {
				cs := chantest.NewServer(b)
				d := newDevice(b)
				cfg := d.config()
				cfg.Anchors = cs.Anchors(b)
				ta := tatest.Start(b, NewTA, cfg)
				inv := tatest.ServeUnix(b, tee.UUIDPayment, tatest.WithParams(ta, v), rpc.AsUser())
				ctx := testCtx(b)
				if cmd == "deliver" {
					b.ReportAllocs()
					for i := 0; b.Loop(); i++ {
						b.StopTimer()
						env := d.match(b, 0, 0xA1, 1, uint64(i+1))
						b.StartTimer()
						if _, err := (payproto.Deliver{Envelope: env}).Execute(ctx, inv); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				cs.Provision(ctx, b, inv)
				h := establish(b, inv, cs.Channel(b, chanwire.ProfileGMFS), chanwire.ProfileGMFS)
				req := payproto.SealMessage{Handle: h, Custom: bytes.Repeat([]byte{'x'}, 1024)}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := req.Execute(ctx, inv); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
