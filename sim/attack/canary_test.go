package attack

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/keymaster/kmproto"
	"github.com/fpemu/fpemu/sim/tas"
	"github.com/fpemu/fpemu/ta/fingerprint"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/ta/fingerprint/matcher"
	"github.com/fpemu/fpemu/ta/fingerprint/sensor/sensorproto"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
	"github.com/fpemu/fpemu/tee/taproc"
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
	if cmd == uint32(kmproto.CmdGenerateKey) && p[0].Type == tee.ParamMemrefInput {
		ps, err := kmproto.ParseParams(p[0].Data)
		if err != nil {
			return err
		}
		var weak kmproto.Params
		for _, x := range ps {
			switch x.Tag {
			case kmproto.TagUserSecureID, kmproto.TagUserAuthType, kmproto.TagAuthTimeout:
			default:
				weak = append(weak, x)
			}
		}
		b, err := append(weak, kmproto.NoAuthRequiredParam()).Marshal()
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
	if cmd == uint32(kmproto.CmdFinish) {
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
			weaken(tee.RolePayment, tolerant(uint32(payproto.CmdDeliver))),
			NotRejected, "the same auth result delivered again: accepted"},
		{"fingerprint TA accepts a replayed key envelope", "^env-replay-key$",
			weaken(tee.RoleFingerprint, tolerant(uint32(fpproto.CmdSetAuthTokenKey))),
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
			rep, findings := runCanary(t, tc.run, func(c *Config) { c.Interpose = tc.interpose }, tc.want)
			assert.Contains(t, findings, tc.finding)
			var out strings.Builder
			require.NoError(t, WriteTable(&out, rep))
			assert.Contains(t, out.String(), "did not hold: "+rep.Results[0].ID)
		})
	}
}

// testLockout is the timed lockout of the test binary's fingerprint TA:
// the policy's counts are the real ones, so the permanent-lockout attack
// walks to 20 in seconds instead of three 30 s windows.
const testLockout = 500 * time.Millisecond

// leakyEnv, set to "1" in a TA child's environment, gives its fingerprint
// TA the leakyMatcher.
const leakyEnv = childEnv + "_LEAKY"

// infoLogEnv, set to "1" in a TA child's environment, has its fingerprint
// TA log at info, as `fpemu attack`'s TAs do, instead of warn.
const infoLogEnv = childEnv + "_INFO"

// runFingerprintTA runs the real fingerprint TA as `fpemu ta fingerprint`
// does, with testLockout, with the leakyMatcher when leakyEnv is set, at
// info when infoLogEnv is.
func runFingerprintTA(ctx context.Context, dir string) error {
	f := tas.FingerprintFactory(func(c *fingerprint.Config, env *taproc.Env) {
		c.LockoutTimed = testLockout
		if os.Getenv(leakyEnv) == "1" {
			c.Matcher = leakyMatcher{Matcher: matcher.NewMinutiae(matcher.DefaultThreshold), log: env.Log}
		}
	})
	lvl := zapcore.WarnLevel
	if os.Getenv(infoLogEnv) == "1" {
		lvl = zapcore.InfoLevel
	}
	return taproc.Run(ctx, taproc.Options{Role: tee.RoleFingerprint, Dir: dir, Factory: f, LogLevel: lvl})
}

// leakyMatcher is the reference matcher with the flaw the hill-climb
// attack looks for: it logs every score to the TA's (REE-visible) log.
type leakyMatcher struct {
	matcher.Matcher
	log *zap.Logger
}

func (m leakyMatcher) Match(t matcher.Template, probe sensorproto.Sample) (float64, error) {
	s, err := m.Matcher.Match(t, probe)
	m.log.Warn("match", zap.Float64("score", s))
	return s, err
}

// sidConfusedGatekeeper is a Gatekeeper whose VERIFY of any user checks
// the first enrolled user's credentials instead, so another user's HAT
// carries the owner's SID: what the SID checks of RESET_LOCKOUT and ENROLL
// stand on.
type sidConfusedGatekeeper struct {
	rpc.Invoker
	mu    *sync.Mutex
	owner *gkOwner
}

// gkOwner is the first user a sidConfusedGatekeeper enrolled.
type gkOwner struct {
	set      bool
	uid      uint32
	password []byte
	handle   []byte
}

func (g sidConfusedGatekeeper) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	g.mu.Lock()
	o := *g.owner
	g.mu.Unlock()
	if gkproto.Command(cmd) == gkproto.CmdVerify && o.set && p[0].A != o.uid {
		p[0].A = o.uid
		p[2] = tee.MemrefIn(gkproto.VerifyPayload{Handle: o.handle, Password: o.password}.Marshal())
	}
	var pw []byte
	if gkproto.Command(cmd) == gkproto.CmdEnroll && !o.set {
		if ep, err := gkproto.ParseEnrollPayload(p[1].Data); err == nil {
			pw = bytes.Clone(ep.DesiredPassword)
		}
	}
	uid := p[0].A
	err := g.Invoker.Invoke(ctx, cmd, p)
	if gkproto.Command(cmd) == gkproto.CmdEnroll && !o.set && err == nil && p[0].A == 0 && pw != nil {
		g.mu.Lock()
		*g.owner = gkOwner{set: true, uid: uid, password: pw, handle: bytes.Clone(p[2].Data)}
		g.mu.Unlock()
	}
	return err
}

// forgetfulFingerprint is a fingerprint TA whose SET_ACTIVE_GROUP clears
// the lockout of the group it switches to: it replays the last enroll HAT
// it carried (the owner's, still fresh) as a RESET_LOCKOUT.
type forgetfulFingerprint struct {
	rpc.Invoker
	mu  *sync.Mutex
	hat *[]byte
}

func (f forgetfulFingerprint) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	if cmd == uint32(fpproto.CmdEnroll) && p[1].Type == tee.ParamMemrefInput {
		f.mu.Lock()
		*f.hat = bytes.Clone(p[1].Data)
		f.mu.Unlock()
	}
	gid := p[0].A
	err := f.Invoker.Invoke(ctx, cmd, p)
	if cmd == uint32(fpproto.CmdSetActiveGroup) && err == nil {
		f.mu.Lock()
		hat := bytes.Clone(*f.hat)
		f.mu.Unlock()
		_, _ = fpproto.ResetLockout{GID: gid, HAT: hat}.Execute(ctx, f.Invoker)
	}
	return err
}

// TestOwnerCanaries: the rows of the biometric-oracle and group-owner
// rules report NOT REJECTED against a TA or Gatekeeper weakened the way
// each rule forbids.
func TestOwnerCanaries(t *testing.T) {
	if testing.Short() {
		t.Skip("boots devices")
	}
	sidConfused := func() func(tee.Role, rpc.Invoker) rpc.Invoker {
		mu, owner := &sync.Mutex{}, &gkOwner{}
		return weaken(tee.RoleGatekeeper, func(inv rpc.Invoker) rpc.Invoker {
			return sidConfusedGatekeeper{Invoker: inv, mu: mu, owner: owner}
		})
	}
	forgetful := func() func(tee.Role, rpc.Invoker) rpc.Invoker {
		mu, hat := &sync.Mutex{}, new([]byte)
		return weaken(tee.RoleFingerprint, func(inv rpc.Invoker) rpc.Invoker {
			return forgetfulFingerprint{Invoker: inv, mu: mu, hat: hat}
		})
	}
	tests := []struct {
		name      string
		run       string
		leaky     bool
		interpose func(tee.Role, rpc.Invoker) rpc.Invoker
		finding   string // a regular expression one finding matches
	}{
		{"the TA logs match scores", "^hill-climb$", true, nil,
			// With the score to climb on, the climb may reach the
			// threshold before the log check runs: either is the breach.
			"the TA's log grades rejections|a climbed sample was accepted"},
		{"another user's HAT carries the owner's SID (reset)", "^reset-lockout-other-user$", false, sidConfused(),
			"RESET_LOCKOUT with the other user's HAT: accepted"},
		{"another user's HAT carries the owner's SID (enroll)", "^enroll-other-sid$", false, sidConfused(),
			"ENROLL with the other user's HAT: accepted"},
		{"SET_ACTIVE_GROUP clears the lockout", "^permanent-lockout$", false, forgetful(), "LOCKOUT_PERMANENT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, findings := runCanary(t, tc.run, func(cfg *Config) {
				cfg.Interpose = tc.interpose
				if tc.leaky {
					ta := cfg.TACommand
					cfg.TACommand = func(dir string) func(tee.Role) *exec.Cmd {
						return func(role tee.Role) *exec.Cmd {
							c := ta(dir)(role)
							c.Env = append(c.Env, leakyEnv+"=1")
							return c
						}
					}
				}
			}, NotRejected)
			assert.Regexp(t, tc.finding, findings)
		})
	}
}
