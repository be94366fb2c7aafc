package keymaster_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/tatest"
)

// BenchmarkBorrowedParams compares Keymaster served with owned and with
// borrowed memrefs (rpc.ParamBorrower), same process, Unix socket: UPDATE
// of 4 KiB into a SHA-256 operation, and a per-operation P-256 signature
// (BEGIN with the blob, FINISH with input and HAT; perOpSignLoop). go
// test runs the variants of a command back to back; the recorded numbers
// (docs/benchmarks.md, "Real TAs borrowing their memrefs") interleave
// them with a shell loop, so the owned one is the floor of the borrowed
// one in the same run.
func BenchmarkBorrowedParams(b *testing.B) {
	ctx := context.Background()
	for _, cmd := range []string{"update4KiB", "perOpSign"} {
		for _, v := range tatest.ParamVariants {
			b.Run(cmd+"/"+v, func(b *testing.B) {
				d := newDevice(b)
				inv := tatest.ServeUnix(b, tee.UUIDKeymaster, tatest.WithParams(d.TA, v))
				if cmd == "perOpSign" {
					perOpSignLoop(b, d, inv, kmproto.CurveP256)
					return
				}
				ps := kmproto.Params{
					kmproto.AlgorithmParam(kmproto.AlgorithmEC), kmproto.ECCurveParam(kmproto.CurveP256),
					kmproto.PurposeParam(kmproto.PurposeSign), kmproto.DigestParam(kmproto.DigestSHA256),
					kmproto.NoAuthRequiredParam(),
				}
				k, err := kmproto.GenerateKey{Params: ps}.Execute(ctx, inv)
				require.NoError(b, err)
				h, err := kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
				require.NoError(b, err)
				in := bytes.Repeat([]byte{0x5A}, 4096)
				b.SetBytes(int64(len(in)))
				b.ReportAllocs()
				for b.Loop() {
					if err := (kmproto.Update{Handle: h, Input: in}).Execute(ctx, inv); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
