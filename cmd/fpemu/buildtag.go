package main

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fpemu/fpemu/tee"
)

// buildTag names a build of fpemu apart from the others, set at link time:
//
//	go build -ldflags "-X main.buildTag=acme-ta-1.2" ./cmd/fpemu
//
// A vendor that ships its own build of a role (`device up --exec
// ROLE=PATH`), or a CI job, sets it; every `fpemu ta` and `fpemu hal`
// process then logs it once at start ("build" line, field "build_tag"),
// so a device's log says which build served each role. Empty in a plain
// build, which logs nothing.
var buildTag string

// logBuildTag writes the "build" line of component's process, if buildTag
// is set.
func logBuildTag(component string, level zapcore.Level) {
	if buildTag == "" {
		return
	}
	log := tee.NewLogger(component, level)
	log.Info("build", zap.String("build_tag", buildTag))
	_ = log.Sync()
}
