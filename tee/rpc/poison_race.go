//go:build race

package rpc

// poisonArenas: under the race detector a released request arena is
// overwritten, so that a ParamBorrower TA keeping a memref past its entry
// point shows up as corrupted data in its tests.
const poisonArenas = true
