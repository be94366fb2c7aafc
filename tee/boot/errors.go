package boot

import "errors"

// Sentinel errors; every error of this package wraps one of them (or an
// *fs.PathError from the file system). None carries key material.
var (
	// ErrFusedKeySize: the fused key file is not exactly FusedKeySize bytes.
	ErrFusedKeySize = errors.New("boot: fused key file has the wrong size")
	// ErrFusedKeyMode: the fused key file is not a regular file owned by
	// this user with no group or other permission bits (want 0600).
	ErrFusedKeyMode = errors.New("boot: fused key file is not private (want a regular file, owned by this user, mode 0600)")
	// ErrMalformedRecord: a provisioning record is not well formed (wrong
	// magic, version, length, unknown TA, routes other than exactly the
	// TA's manifest routes, zero keys, trailing bytes).
	ErrMalformedRecord = errors.New("boot: malformed provisioning record")
	// ErrRecordTooLarge: more than MaxRecordSize bytes arrived.
	ErrRecordTooLarge = errors.New("boot: provisioning record too large")
	// ErrUnknownRole: Provision was asked for a role the manifest lacks.
	ErrUnknownRole = errors.New("boot: unknown TA role")
)
