package attack

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// lostProgress is the path between the fingerprint TA and the attacker
// losing every TEMPLATE_ENROLLING event (NEXT_EVENT answers "none" in its
// place): an enrollment that can never finish. lost is closed at the
// first one lost.
type lostProgress struct {
	rpc.Invoker
	once *sync.Once
	lost chan struct{}
}

func (l lostProgress) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	err := l.Invoker.Invoke(ctx, cmd, p)
	if err != nil || cmd != uint32(fpproto.CmdNextEvent) || fpproto.MsgType(int32(p[0].A)) != fpproto.MsgTemplateEnrolling {
		return err
	}
	fpproto.PutEvent(p, fpproto.Event{Type: fpproto.MsgNone}, 0)
	l.once.Do(func() { close(l.lost) })
	return nil
}

// TestUnjudgedRowSaysWhy: a row whose enrollment waits for an event that
// never comes, interrupted while it waits, reports what it waited for and
// where it stopped (not a bare TEEC_ERROR_CANCEL) and quotes the
// devices' last log lines, so an unjudged row on a loaded machine can be
// diagnosed from its report alone.
func TestUnjudgedRowSaysWhy(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a device")
	}
	cfg := testConfig(t)
	cfg.Match = regexp.MustCompile("^enroll-other-sid$")
	ta := cfg.TACommand
	cfg.TACommand = func(dir string) func(tee.Role) *exec.Cmd {
		return func(role tee.Role) *exec.Cmd {
			c := ta(dir)(role)
			c.Env = append(c.Env, infoLogEnv+"=1")
			return c
		}
	}
	lost := make(chan struct{})
	once := new(sync.Once)
	cfg.Interpose = weaken(tee.RoleFingerprint, func(inv rpc.Invoker) rpc.Invoker {
		return lostProgress{Invoker: inv, once: once, lost: lost}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-lost:
			cancel()
		case <-ctx.Done():
		}
	}()
	rep, err := Run(ctx, cfg)
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, rep.Results, 1)
	r := rep.Results[0]
	assert.Equal(t, Inconclusive, r.Verdict)
	findings := strings.Join(r.Findings, "\n")
	t.Log(findings)
	assert.Contains(t, findings, "enroll finger A: enroll after 1 touches, 1 ACQUIRED, remaining []: waiting for a fingerprint event: NEXT_EVENT: TEEC_ERROR_CANCEL (TEEC_ORIGIN_API): context canceled")
	assert.Regexp(t, `(?m)^log: \{.*"component":"fingerprint"`, findings)
	assert.Empty(t, testkit.Leftovers(cfg.Dir))
}
