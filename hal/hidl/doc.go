// Package hidl is the vocabulary of the fingerprint HAL north API: the
// types of android.hardware.biometrics.fingerprint@2.1 (types.hal
// RequestStatus, FingerprintError, FingerprintAcquiredInfo and the
// IBiometricsFingerprintClientCallback calls as Go values), the legacy
// fingerprint.h message a fingerprint TA reports (fingerprint_msg_t), and
// the conversions the AOSP default 2.1 wrapper
// (hardware/interfaces/biometrics/fingerprint/2.1/default/BiometricsFingerprint.cpp)
// applies between the two.
//
// Every numeric value is AOSP's, so a vendor reading a trace recognises it.
// The package is pure: no I/O, no crypto. The HAL process (package hal), its
// gRPC mirror (hal/halpb) and the Go client (hal/halclient) all speak it.
package hidl
