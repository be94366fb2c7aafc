package fingerprint

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/tatest"
)

// BenchmarkBorrowedParams compares RESET_LOCKOUT (a password HAT checked,
// the group's counter cleared in one store transaction) served with owned
// and with borrowed memrefs (rpc.ParamBorrower; tatest.WithParams), same
// process, Unix socket. AUTHENTICATE, the TA's hot command, carries no
// memref, so borrowing cannot change it. The variants run one after the other in
// each round (-count), so the owned one is the floor of the borrowed one
// in the same run.
func BenchmarkBorrowedParams(b *testing.B) {
	for _, v := range tatest.ParamVariants {
		b.Run("resetLockout/"+v, func(b *testing.B) {
			d := newDevice(b)
			inv := tatest.ServeUnix(b, tee.UUIDFingerprint, tatest.WithParams(d.open(b), v))
			require.NoError(b, fpproto.SetAuthTokenKey{Envelope: d.keyEnvelope(b)}.Execute(ctx(b), inv))
			req := fpproto.ResetLockout{GID: 7, HAT: d.passwordHAT(0, 0x77)}
			c := ctx(b)
			b.ReportAllocs()
			for b.Loop() {
				res, err := req.Execute(c, inv)
				if err != nil || res.Err() != nil {
					b.Fatal(err, res)
				}
			}
		})
	}
}
