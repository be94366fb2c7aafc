package keymaster

import (
	"context"
	"testing"

	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/tee"
)

// FuzzSessionInvoke: any command with any parameter bytes gets an answer
// (nil, *tee.Error) and never panics; no operation outlives the session.
func FuzzSessionInvoke(f *testing.F) {
	enc, err := p256Params(kmproto.NoAuthRequiredParam()).Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint32(kmproto.CmdGenerateKey), enc, []byte(nil), uint32(0), uint32(0), uint8(0))
	f.Add(uint32(kmproto.CmdBegin), []byte("KMKB\x01\x00\x00\x00\x00"), make([]byte, 69), uint32(2), uint32(0), uint8(1))
	f.Add(uint32(kmproto.CmdUpdate), []byte("x"), make([]byte, 69), uint32(1), uint32(2), uint8(2))
	f.Add(uint32(kmproto.CmdFinish), []byte("x"), []byte{}, uint32(0), uint32(1), uint8(2))
	f.Add(uint32(kmproto.CmdAbort), []byte(nil), []byte(nil), uint32(0), uint32(0), uint8(2))
	f.Add(uint32(kmproto.CmdGetAuthTokenKey), tee.UUIDGatekeeper[:], []byte(nil), uint32(0), uint32(0), uint8(0))
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, cmd uint32, a, b []byte, va, vb uint32, shape uint8) {
		s := fx.ta.newSession(0)
		defer func() {
			s.Close()
			if n := fx.ta.Operations(); n != 0 {
				t.Fatalf("%d operations outlive their session", n)
			}
		}()
		var p tee.Params
		switch shape % 3 {
		case 0: // GENERATE_KEY / GET_AUTH_TOKEN_KEY shape
			p = tee.Params{tee.MemrefIn(a), tee.MemrefOut(uint32(len(b)) * 8), tee.MemrefOut(va % 256)}
		case 1: // BEGIN shape
			p = tee.Params{tee.MemrefIn(a), tee.Value(va, vb), tee.MemrefIn(b), tee.ValueOut()}
		default: // UPDATE / FINISH / ABORT shape
			p = tee.Params{tee.Value(va, vb), tee.MemrefIn(a), tee.MemrefIn(b), tee.MemrefOut(vb % 128)}
		}
		err := s.Invoke(context.Background(), cmd%6|cmd&0x10000, &p)
		if err != nil && tee.ResultOf(err) == tee.ResultGeneric {
			t.Fatalf("untyped failure: %v", err)
		}
	})
}
