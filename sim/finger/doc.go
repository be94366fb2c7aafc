// Package finger makes the synthetic fingers the virtual sensor captures.
// Measuring a matcher on a population of them is package sim/finger/eval.
//
// A Finger is a minutiae set deterministic from a 64-bit seed: an elliptic
// print area, a ridge orientation field of one of the five Henry classes
// (Sherlock–Monro zero-pole model around cores and deltas), and minutiae
// scattered over it whose directions follow the ridge flow. Impress places
// the finger on a sensor window with a Placement (displacement, rotation,
// partial area, pressure, quality) and returns what the sensor extracts:
// the minutiae under the window, rigidly moved, elastically distorted,
// jittered, some missing, some spurious, some with the wrong type.
//
// This is simulation data, not security material: randomness comes from
// math/rand/v2 PCG sources seeded from the finger and placement seeds, so
// the same seeds always give the same finger and the same impression.
package finger
