package attack

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/internal/testkit"
	simdev "github.com/fpemu/fpemu/sim/device"
	"github.com/fpemu/fpemu/tee"
)

// TestLogLinesHaveOneComponent: with Config.Log a root logger (no
// component, as documented), the harness's lines, the launcher's and the
// in-process payment server's (r.root, to which payserver adds
// "payserver", payserver.Config.Logger) each carry exactly one component.
func TestLogLinesHaveOneComponent(t *testing.T) {
	var logs testkit.Buffer
	noTA := func(string) func(tee.Role) *exec.Cmd { return nil }
	r := newRunner(&Config{Dir: t.TempDir(), TACommand: noTA, Log: tee.NewRootLoggerTo(&logs, zapcore.DebugLevel)}, "row")
	r.log.Info("harness")
	r.simConfig(simdev.RestartPolicy{}, nil).Log.Info("launcher")
	r.root.With(zap.String("component", "payserver")).Info("server")
	require.Equal(t, 3, testkit.RequireOneComponent(t, []byte(logs.String())))
}
