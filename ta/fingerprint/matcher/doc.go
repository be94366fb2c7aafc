// Package matcher is the fingerprint TA's biometric comparison engine: the
// Matcher interface a sensor vendor implements to plug in their own
// algorithm, the sample and minutia vocabulary the virtual sensor produces,
// and fpemu's reference minutiae matcher.
//
// The reference matcher works on minutiae only (position, direction, type
// and quality, as in ISO/IEC 19794-2 minutia records); it never sees how a
// sample was made. Enrollment aligns several samples to one another and
// merges them into one template, keeping the minutiae that are consistently
// seen. Matching pairs minutiae by local neighbourhood structure, aligns the
// probe with the template from the best local pairs, refines the rigid
// transform by least squares, and scores the number of paired minutiae
// normalised by the number of minutiae in the overlapping area.
//
// Templates have a strict, pure binary codec (see template.go): the TA stores
// them sealed in SQLite, so parsing does no I/O and no crypto, rejects
// anything not byte-for-byte canonical, and is bounded in size.
//
// This package is TA-side code: it depends on nothing in sim/ and may be
// linked into a secure-world process.
package matcher
