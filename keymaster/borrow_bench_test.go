package keymaster_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/keymaster/keymastertest"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/tatest"
	"github.com/fpemu/fpemu/tokens"
)

// BenchmarkBorrowedParams compares Keymaster served with owned and with
// borrowed memrefs (rpc.ParamBorrower), same process, Unix socket: UPDATE
// of 4 KiB into a SHA-256 operation, and a per-operation P-256 signature
// (BEGIN with the blob, FINISH with input and HAT). The variants of a
// command run one after the other in each round (-count), so the owned
// one is the floor of the borrowed one in the same run.
func BenchmarkBorrowedParams(b *testing.B) {
	ctx := context.Background()
	for _, cmd := range []string{"update4KiB", "perOpSign"} {
		for _, v := range tatest.ParamVariants {
			b.Run(cmd+"/"+v, func(b *testing.B) {
				d := newDevice(b)
				inv := tatest.ServeUnix(b, tee.UUIDKeymaster, tatest.WithParams(d.TA, v))
				mac, err := keymastertest.AuthTokenMAC(ctx, inv, d.Gatekeeper(b))
				require.NoError(b, err)
				const sid = 0x5151
				if cmd == "update4KiB" {
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
					return
				}
				k, err := kmproto.GenerateKey{Params: keymastertest.SigningKey(kmproto.CurveP256, tokens.AuthPassword, nil, sid)}.Execute(ctx, inv)
				require.NoError(b, err)
				b.ReportAllocs()
				for b.Loop() {
					h, err := kmproto.Begin{Blob: k.Blob, Purpose: kmproto.PurposeSign}.Execute(ctx, inv)
					if err != nil {
						b.Fatal(err)
					}
					hat := keymastertest.Mint(mac, keymastertest.HAT{Challenge: h, UserID: sid, Type: tokens.AuthPassword, TimestampMs: d.Clock.NowMs()})
					if _, err := (kmproto.Finish{Handle: h, Input: benchMsg, HAT: hat}).Execute(ctx, inv); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
