// Package eval measures a matcher on a population of synthetic fingers
// (package sim/finger): Evaluate enrolls each finger from several
// impressions, probes it with genuine and impostor impressions, and
// reports FAR, FRR, the equal error rate and the scores behind a DET
// curve, which WriteDET draws as a PNG or SVG with gonum.org/v1/plot.
//
// It is test-bench code: it links the matcher (a TA-side package) and is
// imported by `fpemu eval` only, never by the REE flows.
package eval
