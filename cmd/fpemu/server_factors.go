package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/fpemu/fpemu/payserver"
	"github.com/fpemu/fpemu/payserver/otp"
	"github.com/fpemu/fpemu/payserver/policy"
)

// Bounds of the n-factor files.
const (
	maxPolicyFile = 64 << 10 // policy.Parse's own bound
	maxOTPKeyFile = 256
)

// serverFactors builds the server's n-factor configuration from
// --policy, --default-tier, --otp-key and --otp-algorithm
// (docs/protocol.md §16.4). Without --policy every payment needs a
// fingerprint only; without --otp-key no one-time codes are enrolled.
func serverFactors(policyFile, defaultTier, otpKeyFile, otpAlg string) (payserver.Factors, error) {
	var f payserver.Factors
	if policyFile != "" {
		b, err := readFileBounded(policyFile, maxPolicyFile)
		if err != nil {
			return f, usageErrorf("--policy: %v", err)
		}
		if f.Policy, err = policy.Parse(b); err != nil {
			return f, usageErrorf("--policy: %v", err)
		}
		f.DefaultTier = defaultTier
	}
	if otpKeyFile != "" {
		key, err := readOTPKey(otpKeyFile)
		if err != nil {
			return f, usageErrorf("--otp-key: %v", err)
		}
		defer clear(key)
		if f.Sealer, err = otp.NewSealer(key); err != nil {
			return f, usageErrorf("--otp-key: %v", err)
		}
	}
	switch a := otp.Algorithm(otpAlg); a {
	case otp.SM3, otp.TOTPSHA1, otp.TOTPSHA256:
		f.OTPParams = otp.DefaultParams(a)
	default:
		return f, usageErrorf("--otp-algorithm: %q (want sm3, totp-sha1 or totp-sha256)", otpAlg)
	}
	return f, nil
}

// readOTPKey reads the OTP sealing key: 32 hex digits (16 bytes, SM4),
// optionally followed by a newline, in a file only its owner may read
// (mode 0600 or stricter): the key never comes through argv or env.
func readOTPKey(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is mode %#o: group or others may read it (want 0600)", path, fi.Mode().Perm())
	}
	b, err := readFileBounded(path, maxOTPKeyFile)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
	key := make([]byte, hex.DecodedLen(len(b)))
	if n, err := hex.Decode(key, b); err != nil || n != otp.SealKeyLen {
		clear(key)
		return nil, fmt.Errorf("%s: not %d hex digits", path, 2*otp.SealKeyLen)
	}
	return key, nil
}

// readFileBounded reads at most max bytes of path (more is an error).
func readFileBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, max+1)
	n, err := f.Read(b)
	for err == nil && n <= int(max) {
		var m int
		m, err = f.Read(b[n:])
		n += m
	}
	if n > int(max) {
		return nil, fmt.Errorf("%s is over %d bytes", path, max)
	}
	return b[:n], nil
}
