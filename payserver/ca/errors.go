package ca

import "errors"

// Refusals of a request. Each is wrapped with the detail of the failed
// check; test with errors.Is. IsRefusal reports whether an error is one of
// them (the CLI's exit status 1) rather than an I/O or configuration fault.
var (
	// ErrMalformed: the request is not one PEM "CERTIFICATE REQUEST" block
	// or DER PKCS#10 (RFC 2986) that parses, or has trailing data.
	ErrMalformed = errors.New("ca: malformed certificate request")
	// ErrTooLarge: the request is larger than MaxCSRSize.
	ErrTooLarge = errors.New("ca: certificate request too large")
	// ErrBadSignature: the request's self-signature does not verify with
	// its own public key (RFC 2986 §3: proof of possession).
	ErrBadSignature = errors.New("ca: certificate request signature does not verify")
	// ErrNotSM2: the request's key is not an SM2 key (GB/T 32918.1) or it
	// is not signed with SM2-with-SM3 (GM/T 0006 OID 1.2.156.10197.1.501).
	ErrNotSM2 = errors.New("ca: certificate request is not SM2")
	// ErrDuplicate: the same request, or a request for a key already in
	// the register (issued or revoked), was seen before; a dual pair whose
	// two requests carry the same key is refused too (GM/T 0034: the
	// signing and the encryption key pair are distinct).
	ErrDuplicate = errors.New("ca: duplicate certificate request")
	// ErrSubject: the subject or the subject alternative names are not
	// ones the profile allows (docs/protocol.md, CA profiles).
	ErrSubject = errors.New("ca: subject not allowed by the profile")
	// ErrExtension: the request asks for an extension the CA never grants
	// (basicConstraints, or an unknown critical extension).
	ErrExtension = errors.New("ca: requested extension not allowed")
	// ErrValidity: the requested validity is outside the bounds of the
	// profile or would outlast the root certificate (RFC 5280 §6.1.3).
	ErrValidity = errors.New("ca: validity not allowed")
	// ErrProfile: an unknown profile or usage, or a request set that does
	// not fit the usage (dual needs two requests, sign and enc one).
	ErrProfile = errors.New("ca: unknown profile or usage")
	// ErrRegisterFull: the register holds Options.MaxRows certificates.
	ErrRegisterFull = errors.New("ca: register full")
	// ErrNotFound: no certificate with that serial number in the register.
	ErrNotFound = errors.New("ca: no such certificate")
	// ErrRevoked: the certificate is already revoked.
	ErrRevoked = errors.New("ca: certificate already revoked")
	// ErrReason: a revocation reason the CA does not use (RFC 5280
	// §5.3.1: certificateHold, removeFromCRL, cACompromise, aACompromise
	// and unassigned values).
	ErrReason = errors.New("ca: revocation reason not allowed")
)

// Faults of the CA directory, not of a request.
var (
	// ErrExists: Init found a CA already in the directory.
	ErrExists = errors.New("ca: a CA already exists in the directory")
	// ErrNoCA: Open found no CA in the directory.
	ErrNoCA = errors.New("ca: no CA in the directory")
	// ErrCorrupt: the CA's files do not belong together (the key does not
	// match the root certificate, the root does not verify itself, or
	// the register is not a CA register of this version).
	ErrCorrupt = errors.New("ca: CA directory corrupt")
	// ErrKeyFile: a key file does not hold one SM2 private key in PEM
	// (PKCS#8 "PRIVATE KEY" or SEC 1 "EC PRIVATE KEY").
	ErrKeyFile = errors.New("ca: not an SM2 private key file")
	// ErrSerial: a serial number that is not 1 to 20 octets of hex
	// (RFC 5280 §4.1.2.2).
	ErrSerial = errors.New("ca: malformed serial number")
)

var refusals = []error{ErrMalformed, ErrTooLarge, ErrBadSignature, ErrNotSM2, ErrDuplicate, ErrSubject,
	ErrExtension, ErrValidity, ErrProfile, ErrRegisterFull, ErrNotFound, ErrRevoked, ErrReason, ErrSerial}

// IsRefusal reports whether err is a refusal of a request (one of the
// sentinels above) rather than a fault of the directory or of I/O.
func IsRefusal(err error) bool {
	for _, r := range refusals {
		if errors.Is(err, r) {
			return true
		}
	}
	return false
}
