//go:build race

package attack

// The race detector multiplies a TA's memory use; stalled-frames' RSS
// bound is issue 8's for a normal build.
func init() { stalledRSSLimit *= 8 }
