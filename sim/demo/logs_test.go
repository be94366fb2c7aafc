package demo

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/internal/testkit"
)

// TestCALogLinesHaveOneComponent: the demo's in-process CA logs with
// exactly one component. The CA adds its own ("ca"), so the demo hands it
// a logger without one.
func TestCALogLinesHaveOneComponent(t *testing.T) {
	var logs testkit.Buffer
	r := &runner{cfg: Config{Logs: &logs, LogLevel: zapcore.DebugLevel}, dir: t.TempDir()}
	r.log = newLogger(r.cfg.Logs, "demo", r.cfg.LogLevel)
	require.NoError(t, mintCA(r, context.Background(), &record{}))
	t.Cleanup(func() { _ = r.srv.ca.Close() })
	require.Positive(t, testkit.RequireOneComponent(t, []byte(logs.String())))
}
