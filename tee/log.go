package tee

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger returns fpemu's structured logger: JSON lines on stderr, every
// line carrying a "component" field (e.g. "keymaster", "launcher"). Callers
// must never log secret material (keys, passwords, sealed payloads, HAT
// MACs); log lengths, identities and results instead.
func NewLogger(component string, level zapcore.Level) *zap.Logger {
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(level)
	cfg.Sampling = nil
	cfg.EncoderConfig.TimeKey = "ts"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	l, err := cfg.Build()
	if err != nil {
		// The production config is static; Build only fails on a broken
		// stderr, where a no-op logger is the only safe choice.
		return zap.NewNop().With(zap.String("component", component))
	}
	return l.With(zap.String("component", component))
}
