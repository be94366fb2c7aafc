//go:build race

package rpc

// raceEnabled: the race detector multiplies memory use, so RSS bounds are
// logged, not asserted.
const raceEnabled = true
