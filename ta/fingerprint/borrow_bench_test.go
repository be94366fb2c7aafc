package fingerprint

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/tatest"
)

// ownedParams is the TA as it was before it borrowed its memrefs: the
// host copies every input memref into bytes the TA owns.
type ownedParams struct{ *TA }

func (ownedParams) BorrowsParams() bool { return false }

// BenchmarkBorrowedParams compares RESET_LOCKOUT (a password HAT checked,
// the group's counter cleared in one store transaction) served with owned
// and with borrowed memrefs (rpc.ParamBorrower), same process, Unix
// socket. AUTHENTICATE, the TA's hot command, carries no memref, so
// borrowing cannot change it. The variants run one after the other in
// each round (-count), so the owned one is the floor of the borrowed one
// in the same run.
func BenchmarkBorrowedParams(b *testing.B) {
	for _, v := range []string{"owned", "borrowed"} {
		b.Run("resetLockout/"+v, func(b *testing.B) {
			d := newDevice(b)
			ta := d.open(b)
			var served rpc.TA = ta
			if v == "owned" {
				served = ownedParams{ta}
			}
			inv := tatest.ServeUnix(b, tee.UUIDFingerprint, served)
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
