package tee

import (
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// LogEncoderConfig is the one JSON line format of every fpemu process
// (launcher, TAs, HAL, conform, demo): "ts" as ISO 8601 with milliseconds
// and zone (e.g. 2026-01-02T15:04:05.000Z), "level", "caller", "msg",
// then the fields; NewLogger adds "component". A vendor process started
// by the launcher should write the same keys (docs/protocol.md §7.8).
func LogEncoderConfig() zapcore.EncoderConfig {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	return enc
}

// NewLogger returns fpemu's structured logger: JSON lines on stderr, every
// line carrying a "component" field (e.g. "keymaster", "launcher"). Callers
// must never log secret material (keys, passwords, sealed payloads, HAT
// MACs); log lengths, identities and results instead.
func NewLogger(component string, level zapcore.Level) *zap.Logger {
	return NewLoggerTo(os.Stderr, component, level)
}

// NewLoggerTo is NewLogger writing to w (which must be safe for the
// concurrent writes of one logger; wrap a shared writer in a mutex).
func NewLoggerTo(w io.Writer, component string, level zapcore.Level) *zap.Logger {
	return NewRootLoggerTo(w, level).With(zap.String("component", component))
}

// NewRootLoggerTo is NewLoggerTo without the "component" field, for a
// process that hands its logger to libraries which add their own (the
// payment server's payserver, merchant and store): zap does not replace a
// field added twice but writes the key twice. The process gives its own
// lines a component with With.
func NewRootLoggerTo(w io.Writer, level zapcore.Level) *zap.Logger {
	core := zapcore.NewCore(zapcore.NewJSONEncoder(LogEncoderConfig()), zapcore.AddSync(w), level)
	return zap.New(core, zap.AddCaller(), zap.AddStacktrace(zapcore.ErrorLevel), zap.ErrorOutput(zapcore.Lock(os.Stderr)))
}
