package tas

import (
	"context"
	"fmt"

	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/bio/payment"
	"github.com/fpemu/fpemu/keymaster"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/taproc"
)

// Weakening names one resource bound or TA-side rule a TA process can be
// run without: the deliberately weakened configurations the attack
// suite's canaries run to show that its rows can fail. Only test binaries
// run one; `fpemu ta` never does.
type Weakening string

// Weakenings.
const (
	// NoConnCap lifts the TA host's connection cap (rpc.WithMaxConns).
	NoConnCap Weakening = "no-conn-cap"
	// NoFrameBudget removes the TA host's frame budget
	// (rpc.WithFrameBudget(-1)): every byte a client sends is buffered.
	NoFrameBudget Weakening = "no-frame-budget"
	// NoOpPruning makes Keymaster refuse a BEGIN on a full operation table
	// instead of pruning (keymaster.Config.NoPruning).
	NoOpPruning Weakening = "no-op-pruning"
	// ChanOfferOnlyProposed makes the payment TA's CHANNEL_OPEN offer only
	// the profile the REE asked for (payment.OfferOnlyProposed): the
	// channel-downgrade row's canary.
	ChanOfferOnlyProposed Weakening = "chan-offer-only-proposed"
	// ChanIgnoreAddressee makes the payment TA's CHANNEL_OPEN_RECORD skip
	// its device-and-user addressee check (payment.IgnoreAddressee): the
	// channel-other-device row's canary.
	ChanIgnoreAddressee Weakening = "chan-ignore-addressee"
)

// RunWeakenedTA is RunTA without the bound or rule w (a weakening of
// another role than w's leaves the TA as built).
func RunWeakenedTA(ctx context.Context, role tee.Role, dir string, level zapcore.Level, w Weakening) error {
	f, err := Factory(role)
	if err != nil {
		return err
	}
	opt := taproc.Options{Role: role, Dir: dir, Factory: f, LogLevel: level}
	switch w {
	case NoConnCap:
		opt.ServerOptions = []rpc.Option{rpc.WithMaxConns(1 << 30)}
	case NoFrameBudget:
		opt.ServerOptions = []rpc.Option{rpc.WithFrameBudget(-1)}
	case NoOpPruning:
		if role == tee.RoleKeymaster {
			opt.Factory = func(env *taproc.Env) (rpc.TA, error) {
				cfg := keymasterConfig(env)
				cfg.NoPruning = true
				return keymaster.NewTA(cfg)
			}
		}
	case ChanOfferOnlyProposed, ChanIgnoreAddressee:
		if role == tee.RolePayment {
			weak := payment.OfferOnlyProposed
			if w == ChanIgnoreAddressee {
				weak = payment.IgnoreAddressee
			}
			opt.Factory = func(env *taproc.Env) (rpc.TA, error) { return newPaymentWeakened(env, weak) }
		}
	default:
		return fmt.Errorf("sim: unknown weakening %q", string(w))
	}
	return taproc.Run(ctx, opt)
}
