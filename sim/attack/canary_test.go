package attack

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/bio/payment"
	"github.com/fpemu/fpemu/keymaster"
	"github.com/fpemu/fpemu/ta/fingerprint"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// The canaries prove the checks can fail: the same attacks, run through
// test doubles that weaken one TA, must report that the defence did not
// hold, with the input that got through.

// unboundKeymaster is a Keymaster that drops a new key's user-auth
// binding (USER_SECURE_ID, USER_AUTH_TYPE, AUTH_TIMEOUT → NO_AUTH_REQUIRED)
// before the real TA generates it: every HAT, flipped or not, then
// finishes its operations.
type unboundKeymaster struct{ rpc.Invoker }

func (k unboundKeymaster) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	if cmd == keymaster.CmdGenerateKey && p[0].Type == tee.ParamMemrefInput {
		ps, err := keymaster.ParseParams(p[0].Data)
		if err != nil {
			return err
		}
		var weak keymaster.Params
		for _, x := range ps {
			switch x.Tag {
			case keymaster.TagUserSecureID, keymaster.TagUserAuthType, keymaster.TagAuthTimeout:
			default:
				weak = append(weak, x)
			}
		}
		b, err := append(weak, keymaster.NoAuthRequiredParam()).Marshal()
		if err != nil {
			return err
		}
		p[0] = tee.MemrefIn(b)
	}
	return k.Invoker.Invoke(ctx, cmd, p)
}

// replayTolerant is a TA that accepts a replayed envelope: an envelope it
// has already been given is answered with success and not passed on.
type replayTolerant struct {
	rpc.Invoker
	cmds map[uint32]bool // the commands that take an envelope in p0
	mu   *sync.Mutex
	seen *[][]byte
}

func (r replayTolerant) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	if r.cmds[cmd] && p[0].Type == tee.ParamMemrefInput {
		r.mu.Lock()
		for _, s := range *r.seen {
			if bytes.Equal(s, p[0].Data) {
				r.mu.Unlock()
				for i := range p {
					if p[i].Type == tee.ParamValueOutput {
						p.SetValue(i, 0, 0)
					}
				}
				return nil
			}
		}
		*r.seen = append(*r.seen, bytes.Clone(p[0].Data))
		r.mu.Unlock()
	}
	return r.Invoker.Invoke(ctx, cmd, p)
}

// weaken returns a Config.Interpose that wraps role's sessions with wrap.
func weaken(role tee.Role, wrap func(rpc.Invoker) rpc.Invoker) func(tee.Role, rpc.Invoker) rpc.Invoker {
	return func(r tee.Role, inv rpc.Invoker) rpc.Invoker {
		if r == role {
			return wrap(inv)
		}
		return inv
	}
}

// borrowedIdentity stands for a payment TA that takes the client identity
// from the caller's word (a parameter) instead of the kernel: the first
// payment session opened (the victim app's) is the identity every later
// session claims, and gets.
type borrowedIdentity struct {
	mu    sync.Mutex
	first rpc.Invoker
}

func (b *borrowedIdentity) wrap(inv rpc.Invoker) rpc.Invoker {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.first == nil {
		b.first = inv
	}
	return b.first
}

// brokenFinish is a Keymaster whose FINISH always fails: refusing
// everything is not a defence.
type brokenFinish struct{ rpc.Invoker }

func (b brokenFinish) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	if cmd == keymaster.CmdFinish {
		return &tee.Error{Code: tee.ResultGeneric, Origin: tee.OriginTrustedApp}
	}
	return b.Invoker.Invoke(ctx, cmd, p)
}

func TestCanaries(t *testing.T) {
	if testing.Short() {
		t.Skip("boots devices")
	}
	var mu sync.Mutex
	var seen [][]byte
	tolerant := func(cmds ...uint32) func(rpc.Invoker) rpc.Invoker {
		set := map[uint32]bool{}
		for _, c := range cmds {
			set[c] = true
		}
		return func(inv rpc.Invoker) rpc.Invoker {
			return replayTolerant{Invoker: inv, cmds: set, mu: &mu, seen: &seen}
		}
	}
	tests := []struct {
		name      string
		run       string
		interpose func(tee.Role, rpc.Invoker) rpc.Invoker
		want      Verdict
		finding   string
	}{
		{"keymaster accepts flipped HATs", "^hat-flip-keymaster$",
			weaken(tee.RoleKeymaster, func(inv rpc.Invoker) rpc.Invoker { return unboundKeymaster{inv} }),
			NotRejected, "FINISH with HAT "},
		{"keymaster accepts another operation's HAT", "^hat-replay$",
			weaken(tee.RoleKeymaster, func(inv rpc.Invoker) rpc.Invoker { return unboundKeymaster{inv} }),
			NotRejected, "FINISH B with A's HAT: accepted"},
		{"payment TA accepts a replayed bio result", "^bio-replay$",
			weaken(tee.RolePayment, tolerant(payment.CmdDeliver)),
			NotRejected, "the same auth result delivered again: accepted"},
		{"fingerprint TA accepts a replayed key envelope", "^env-replay-key$",
			weaken(tee.RoleFingerprint, tolerant(fingerprint.CmdSetAuthTokenKey)),
			NotRejected, "envelope replayed to fingerprint: accepted"},
		{"payment TA trusting a claimed identity lets one app use another's keys", "^cross-app-keys$",
			weaken(tee.RolePayment, (&borrowedIdentity{}).wrap),
			NotRejected, "replace the victim's app key: accepted"},
		{"payment TA trusting a claimed identity serves PUBLIC sessions", "^public-login$",
			weaken(tee.RolePayment, (&borrowedIdentity{}).wrap),
			NotRejected, "CREATE_APP_KEY over the app's id: accepted"},
		{"a Keymaster that refuses everything is no defence", "^hat-flip-keymaster$",
			weaken(tee.RoleKeymaster, func(inv rpc.Invoker) rpc.Invoker { return brokenFinish{inv} }),
			Inconclusive, "control FINISH with the genuine HAT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			cfg := testConfig(t)
			cfg.Match = regexp.MustCompile(tc.run)
			cfg.Interpose = tc.interpose
			rep := runSuite(t, cfg)
			require.Len(t, rep.Results, 1)
			r := rep.Results[0]
			assert.Equal(t, tc.want, r.Verdict, "%s %v", r.Observed, r.Findings)
			assert.False(t, r.Held)
			assert.False(t, rep.OK())
			require.NotEmpty(t, r.Findings)
			assert.Contains(t, strings.Join(r.Findings, "\n"), tc.finding)
			var out strings.Builder
			require.NoError(t, WriteTable(&out, rep))
			assert.Contains(t, out.String(), "did not hold: "+r.ID)
			assert.Empty(t, leftovers(t, cfg.Dir))
		})
	}
}
