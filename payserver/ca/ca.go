package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/tee/devdir"
)

// The files of a CA directory (docs/protocol.md, CA files).
const (
	// KeyFile holds the root's SM2 private key, PKCS#8 PEM, mode 0600.
	KeyFile = "ca.key"
	// RootFile holds the self-signed root certificate, PEM.
	RootFile = "root.pem"
	// RegisterFile is the SQLite register of issued certificates.
	RegisterFile = "register.db"
)

// Defaults and bounds.
const (
	// DefaultRootValidity is the root certificate's lifetime.
	DefaultRootValidity = 10 * 365 * 24 * time.Hour
	// DefaultMaxRows bounds the register (and so List and a CRL).
	DefaultMaxRows = 1_000_000
	// DefaultCRLValidity is a CRL's nextUpdate − thisUpdate.
	DefaultCRLValidity = 7 * 24 * time.Hour
	// MaxCRLValidity bounds it.
	MaxCRLValidity = 90 * 24 * time.Hour
	// DefaultRootName is the root's subject CommonName.
	DefaultRootName = "fpemu root CA"
	// backdate is how far notBefore lies before the issuing time, for
	// peers whose clocks are a little behind.
	backdate = 5 * time.Minute
)

// Options configures a CA opened in process.
type Options struct {
	// Logger receives one line per issue, revocation and CRL (component
	// "ca"; serial numbers and subjects, never key material). Default: none.
	Logger *zap.Logger
	// Rand is the randomness source of keys, serials and signatures
	// (default crypto/rand).
	Rand io.Reader
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxRows bounds the register (default DefaultMaxRows).
	MaxRows int
}

func (o Options) normalized() Options {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	o.Logger = o.Logger.With(zap.String("component", "ca"))
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	return o
}

// InitOptions configures Init.
type InitOptions struct {
	Options
	// CommonName and Organization name the root (default DefaultRootName).
	CommonName   string
	Organization string
	// Validity is the root's lifetime (default DefaultRootValidity).
	Validity time.Duration
}

// CA is an open certificate authority. Its methods are safe for
// concurrent use, also by several processes on one directory (the
// register serialises writers).
type CA struct {
	dir  string
	key  *sm2.PrivateKey
	root *smx509.Certificate
	db   *sql.DB
	opts Options
}

// Init creates a CA in dir: the directory (mode 0700, or an existing one
// of the caller's that nobody else can write), a new SM2 root key
// (KeyFile, 0600), the self-signed root certificate (RootFile) and an
// empty register. It refuses a directory that already holds a CA
// (ErrExists) and leaves nothing behind on failure.
func Init(dir string, opts InitOptions) (*CA, error) {
	o := opts.Options.normalized()
	key, err := sm2.GenerateKey(o.Rand)
	if err != nil {
		return nil, fmt.Errorf("ca: generate root key: %w", err)
	}
	return initWithKey(dir, key, opts)
}

func initWithKey(dir string, key *sm2.PrivateKey, opts InitOptions) (c *CA, err error) {
	o := opts.Options.normalized()
	if opts.CommonName == "" {
		opts.CommonName = DefaultRootName
	}
	if opts.Validity == 0 {
		opts.Validity = DefaultRootValidity
	}
	if opts.Validity < 24*time.Hour || opts.Validity > 30*365*24*time.Hour {
		return nil, fmt.Errorf("%w: root validity %v outside [1 day, 30 years]", ErrValidity, opts.Validity)
	}
	if err := checkName(opts.CommonName, true); err != nil {
		return nil, fmt.Errorf("%w: root name: %v", ErrSubject, err)
	}
	if err := devdir.PrepareDeviceDir(dir); err != nil {
		return nil, err
	}
	for _, f := range []string{KeyFile, RootFile, RegisterFile} {
		if _, err := os.Lstat(filepath.Join(dir, f)); !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrExists, filepath.Join(dir, f))
		}
	}
	now := o.Now().UTC().Truncate(time.Second)
	serial, err := randomSerial(o.Rand)
	if err != nil {
		return nil, err
	}
	tmpl := &smx509.Certificate{
		SerialNumber: serial,
		NotBefore:    now.Add(-backdate), NotAfter: now.Add(opts.Validity),
		// GM/T 0015-2012 Annex C table C.1 (self-signed CA): keyCertSign
		// and cRLSign; basicConstraints cA, path length 0 (this CA
		// issues end-entity certificates only).
		KeyUsage: smx509.KeyUsageCertSign | smx509.KeyUsageCRLSign | smx509.KeyUsageDigitalSignature,
		IsCA:     true, BasicConstraintsValid: true, MaxPathLen: 0, MaxPathLenZero: true,
		SubjectKeyId: keyID(&key.PublicKey),
	}
	tmpl.Subject.CommonName = opts.CommonName
	if opts.Organization != "" {
		tmpl.Subject.Organization = []string{opts.Organization}
	}
	der, err := smx509.CreateCertificate(o.Rand, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("ca: create root: %w", err)
	}
	keyPEM, err := MarshalKey(key)
	if err != nil {
		return nil, err
	}
	var created []string
	defer func() {
		if err != nil {
			for _, p := range created {
				os.Remove(p)
			}
			for _, s := range []string{"-wal", "-shm", "-journal"} {
				os.Remove(filepath.Join(dir, RegisterFile+s))
			}
		}
	}()
	for _, f := range []struct {
		name string
		b    []byte
		mode os.FileMode
	}{
		{RegisterFile, nil, 0o600},
		{KeyFile, keyPEM, 0o600},
		{RootFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644},
	} {
		p := filepath.Join(dir, f.name)
		if err = writeNew(p, f.b, f.mode); err != nil {
			if errors.Is(err, fs.ErrExist) {
				err = fmt.Errorf("%w: %s", ErrExists, p)
			}
			return nil, err
		}
		created = append(created, p)
	}
	c, err = Open(dir, opts.Options)
	if err != nil {
		return nil, err
	}
	o.Logger.Info("root created", zap.String("dir", dir), zap.String("serial", FormatSerial(serial)),
		zap.String("subject", opts.CommonName))
	return c, nil
}

// Open opens the CA in dir: the directory must be the caller's and not
// writable by others, the key file the caller's alone (mode 0600 or
// stricter), the key must match the root certificate and the root must
// verify itself (else ErrCorrupt).
func Open(dir string, opts Options) (*CA, error) {
	o := opts.normalized()
	if err := devdir.CheckOwnedDir(dir); err != nil {
		return nil, err
	}
	keyPath := filepath.Join(dir, KeyFile)
	if _, err := os.Lstat(keyPath); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s (run fpemu ca init)", ErrNoCA, dir)
	}
	key, err := ReadKeyFile(keyPath)
	if err != nil {
		if errors.Is(err, ErrKeyFile) {
			return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, KeyFile, err)
		}
		return nil, err
	}
	rootPath := filepath.Join(dir, RootFile)
	if err := devdir.CheckFile(rootPath); err != nil {
		return nil, err
	}
	rb, err := os.ReadFile(rootPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, RootFile, err)
	}
	blk, _ := pem.Decode(rb)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%w: %s is not a PEM certificate", ErrCorrupt, RootFile)
	}
	root, err := smx509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, RootFile, err)
	}
	if !key.PublicKey.Equal(root.PublicKey) {
		return nil, fmt.Errorf("%w: %s does not match %s", ErrCorrupt, KeyFile, RootFile)
	}
	if err := root.CheckSignatureFrom(root); err != nil {
		return nil, fmt.Errorf("%w: root does not verify itself: %v", ErrCorrupt, err)
	}
	db, err := openRegister(dir)
	if err != nil {
		return nil, err
	}
	return &CA{dir: dir, key: key, root: root, db: db, opts: o}, nil
}

// Close closes the register.
func (c *CA) Close() error { return c.db.Close() }

// Root returns the root certificate.
func (c *CA) Root() *smx509.Certificate { return c.root }

// Dir returns the CA directory.
func (c *CA) Dir() string { return c.dir }

// RootPEM returns the root certificate as PEM.
func (c *CA) RootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.root.Raw})
}

// Count returns the number of certificates in the register.
func (c *CA) Count(ctx context.Context) (int, error) {
	var n int
	if err := c.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM certs`).Scan(&n); err != nil {
		return 0, fmt.Errorf("ca: register: %w", err)
	}
	return n, nil
}

// randomSerial returns a positive serial of 127 random bits (RFC 5280
// §4.1.2.2: at most 20 octets; CA/Browser Forum BR §7.1: at least 64 bits
// of CSPRNG output), never zero.
func randomSerial(r io.Reader) (*big.Int, error) {
	for {
		var b [16]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("ca: serial: %w", err)
		}
		b[0] &= 0x7f
		if n := new(big.Int).SetBytes(b[:]); n.BitLen() > 64 {
			return n, nil
		}
	}
}

// keyID is a subject key identifier: the leftmost 160 bits of the SM3
// hash of the subjectPublicKey bit string (RFC 7093 §2 method 1, with SM3
// in place of SHA-256).
func keyID(pub *ecdsa.PublicKey) []byte {
	var bits []byte
	if k, err := sm2.PublicKeyToECDH(pub); err == nil {
		bits = k.Bytes()
	}
	h := sm3.Sum(bits)
	return h[:20]
}
