package attack

import (
	"bytes"
	"context"
	"os/exec"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/sim/tas"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// sequenceBlindPayment is a payment TA double without the record
// sequence rule: a record it has opened before is answered again with the
// feedback it returned then, as a TA that does not count records would.
type sequenceBlindPayment struct {
	rpc.Invoker
	mu     *sync.Mutex
	opened map[string][]byte // record → feedback
}

func (s sequenceBlindPayment) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	if cmd != uint32(payproto.CmdChannelOpenRecord) || p[1].Type != tee.ParamMemrefInput {
		return s.Invoker.Invoke(ctx, cmd, p)
	}
	rec := string(p[1].Data)
	s.mu.Lock()
	fb, seen := s.opened[rec]
	s.mu.Unlock()
	if seen {
		p[2].Data = bytes.Clone(fb)
		return nil
	}
	if err := s.Invoker.Invoke(ctx, cmd, p); err != nil {
		return err
	}
	s.mu.Lock()
	s.opened[rec] = bytes.Clone(p[2].Data)
	s.mu.Unlock()
	return nil
}

// TestChannelCanaries: the channel rows whose defence is the payment TA's
// own rule report NOT REJECTED against a TA without it — a weakened TA
// process (tas.RunWeakenedTA) or, for the sequence rule, a TA double in
// the CA session — with the input that got through. The other channel
// rows' defences live only in the channel library (see channel.go).
func TestChannelCanaries(t *testing.T) {
	if testing.Short() {
		t.Skip("boots devices")
	}
	weakPayment := func(w tas.Weakening) func(*Config) {
		return func(cfg *Config) {
			cfg.TACommand = func(dir string) func(tee.Role) *exec.Cmd {
				return func(role tee.Role) *exec.Cmd {
					if role == tee.RolePayment {
						return childCmd("ta-weakened", string(w), string(role), "--dir", dir)
					}
					return childCmd("ta", string(role), "--dir", dir)
				}
			}
		}
	}
	tests := []struct {
		name    string
		run     string
		weaken  func(*Config)
		finding []string
	}{
		{"a TA without record sequence numbers takes a replayed feedback", "^chan-replay$",
			func(cfg *Config) {
				cfg.Interpose = weaken(tee.RolePayment, func(inv rpc.Invoker) rpc.Invoker {
					return sequenceBlindPayment{Invoker: inv, mu: &sync.Mutex{}, opened: map[string][]byte{}}
				})
			},
			[]string{"feedback replayed to the TA: accepted"}},
		{"a TA offering only the asked-for profile lets the REE downgrade to gm", "^chan-downgrade$",
			weakPayment(tas.ChanOfferOnlyProposed), []string{"the TA asked for gm → server: accepted"}},
		{"a TA without the addressee check takes feedback for another device or user", "^chan-other-device$",
			weakPayment(tas.ChanIgnoreAddressee), []string{
				"addressed to another device → TA: accepted",
				"addressed to another user → TA: accepted",
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, findings := runCanary(t, tc.run, tc.weaken, NotRejected)
			for _, f := range tc.finding {
				assert.Contains(t, findings, f)
			}
			// The library's defences still hold in the weakened TA.
			assert.NotContains(t, findings, "other device's feedback → TA: accepted")
		})
	}
}

// TestChannelRows runs the chan-* rows: each defence holds with its
// honest channel carrying a message, and nothing is left bound.
func TestChannelRows(t *testing.T) {
	requireRowsRejected(t, "^chan-", 10)
}
