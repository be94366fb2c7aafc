package ca

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"strings"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"

	"github.com/fpemu/fpemu/tee/devdir"
)

// MaxCSRSize bounds a certificate request as read (PEM or DER): an SM2
// PKCS#10 with a subject and a few names is about 300 bytes, so 16 KiB
// leaves room for long subject alternative name lists and nothing more.
const MaxCSRSize = 16 << 10

// maxKeyFileSize bounds a private-key file as read.
const maxKeyFileSize = 16 << 10

const pemCSR = "CERTIFICATE REQUEST"

// DecodeCSR reads one PKCS#10 certificate request (RFC 2986) given as DER
// or as exactly one PEM "CERTIFICATE REQUEST" block (RFC 7468 §7; "NEW
// CERTIFICATE REQUEST" is accepted too), with nothing but white space
// around it. It checks form only (size, framing, DER parse); Issue adds
// the signature, key and profile checks. An error returns no request.
func DecodeCSR(b []byte) (*smx509.CertificateRequest, error) {
	if len(b) > MaxCSRSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), MaxCSRSize)
	}
	der := b
	if t := bytes.TrimSpace(b); bytes.HasPrefix(t, []byte("-----BEGIN")) {
		blk, rest := pem.Decode(t)
		if blk == nil {
			return nil, fmt.Errorf("%w: PEM framing", ErrMalformed)
		}
		if blk.Type != pemCSR && blk.Type != "NEW "+pemCSR {
			return nil, fmt.Errorf("%w: PEM block %q, want %q", ErrMalformed, blk.Type, pemCSR)
		}
		if len(blk.Headers) != 0 {
			return nil, fmt.Errorf("%w: PEM headers", ErrMalformed)
		}
		if len(bytes.TrimSpace(rest)) != 0 {
			return nil, fmt.Errorf("%w: data after the PEM block", ErrMalformed)
		}
		der = blk.Bytes
	}
	// smx509.ParseCertificateRequest refuses trailing data after the DER
	// SEQUENCE (encoding/asn1 rest check).
	csr, err := smx509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return csr, nil
}

// CSRTemplate names what NewCSR puts in a request.
type CSRTemplate struct {
	CommonName   string
	Organization string
	// DNSNames and IPAddresses go into a subjectAltName extension
	// request (server profile only).
	DNSNames    []string
	IPAddresses []net.IP
}

// NewCSR returns a DER PKCS#10 request for key, signed with SM2-with-SM3
// (default user ID, GB/T 35275), so that a harness can exercise the whole
// issuing flow without OpenSSL.
func NewCSR(rand io.Reader, key *sm2.PrivateKey, t CSRTemplate) ([]byte, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no key", ErrKeyFile)
	}
	tmpl := &smx509.CertificateRequest{DNSNames: t.DNSNames, IPAddresses: t.IPAddresses}
	tmpl.Subject.CommonName = t.CommonName
	if t.Organization != "" {
		tmpl.Subject.Organization = []string{t.Organization}
	}
	der, err := smx509.CreateCertificateRequest(rand, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("ca: create certificate request: %w", err)
	}
	return der, nil
}

// EncodeCSR returns the PEM form of a DER request.
func EncodeCSR(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCSR, Bytes: der})
}

// ParseKey reads one SM2 private key from PEM: PKCS#8 "PRIVATE KEY"
// (RFC 5208, what `openssl genpkey -algorithm SM2` writes) or SEC 1 "EC
// PRIVATE KEY" with the SM2 curve. The error never contains key bytes.
func ParseKey(b []byte) (*sm2.PrivateKey, error) {
	if len(b) > maxKeyFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrKeyFile, maxKeyFileSize)
	}
	blk, rest := pem.Decode(bytes.TrimSpace(b))
	if blk == nil || len(bytes.TrimSpace(rest)) != 0 || len(blk.Headers) != 0 {
		return nil, fmt.Errorf("%w: want exactly one unencrypted PEM block", ErrKeyFile)
	}
	var (
		k   any
		err error
	)
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = smx509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = smx509.ParseSM2PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("%w: PEM block %q", ErrKeyFile, blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: does not parse", ErrKeyFile)
	}
	sk, ok := k.(*sm2.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: not an SM2 key", ErrKeyFile)
	}
	return sk, nil
}

// MarshalKey returns key as PKCS#8 PEM.
func MarshalKey(key *sm2.PrivateKey) ([]byte, error) {
	der, err := smx509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("ca: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ReadKeyFile reads an SM2 private key from path. The file must be a
// regular file of the effective user with one link, readable by nobody
// else (mode 0600 or stricter): otherwise a *devdir.UnsafeError.
func ReadKeyFile(path string) (*sm2.PrivateKey, error) {
	if err := checkSecretFile(path); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ca: key file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("ca: key file: %w", err)
	}
	return ParseKey(b)
}

// WriteKeyFile writes key as PKCS#8 PEM to a new file at path with mode
// 0600; it never replaces an existing file (fs.ErrExist).
func WriteKeyFile(path string, key *sm2.PrivateKey) error {
	b, err := MarshalKey(key)
	if err != nil {
		return err
	}
	return writeNew(path, b, 0o600)
}

// writeNew creates path (never over an existing file or link), writes b
// and syncs it; on failure it removes what it created.
func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("ca: write %s: %w", path, err)
	}
	return nil
}

// checkSecretFile refuses a key file that is not the owner's alone.
func checkSecretFile(path string) error {
	if err := devdir.CheckFile(path); err != nil {
		return err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("ca: key file: %w", err)
		}
		return fmt.Errorf("ca: key file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return &devdir.UnsafeError{Path: path, Problem: fmt.Sprintf("is readable or writable by group or others (mode %04o)", perm),
			Fix: "chmod 600 " + path}
	}
	return nil
}

// ParseSerial reads a serial number as `fpemu ca list` prints it: hex,
// optionally with colons between octets (as OpenSSL prints them) and an
// optional 0x prefix; 1 to 20 octets, positive and non-zero (RFC 5280
// §4.1.2.2).
func ParseSerial(s string) (*big.Int, error) {
	h := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X"))
	h = strings.ReplaceAll(h, ":", "")
	if len(h)%2 == 1 {
		h = "0" + h
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) == 0 || len(b) > 20 {
		return nil, fmt.Errorf("%w: %q", ErrSerial, s)
	}
	n := new(big.Int).SetBytes(b)
	if n.Sign() == 0 {
		return nil, fmt.Errorf("%w: zero", ErrSerial)
	}
	return n, nil
}

// FormatSerial is the register's spelling of a serial number: lowercase
// hex, even length, no prefix.
func FormatSerial(n *big.Int) string {
	return hex.EncodeToString(n.Bytes())
}

// isSM2 reports whether pub is an SM2 public key.
func isSM2(pub any) bool {
	k, ok := pub.(*ecdsa.PublicKey)
	return ok && sm2.IsSM2PublicKey(k)
}
