package card

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/emmansun/gmsm/sm3"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/fpemu/fpemu/se/cardproto"
	"github.com/fpemu/fpemu/tee/devdir"
	"github.com/fpemu/fpemu/tee/store"
)

// Files of a card directory (docs/protocol.md §15.1).
const (
	KeyFile     = "card.key"  // the card key: 32 random bytes, 0600
	LockFile    = "card.lock" // flock: one card process per directory
	DataDir     = "data"      // holds DBFile (0700)
	DBFile      = "card.db"   // the sealed store (the card's EEPROM)
	RPMBDir     = "rpmb"      // holds CounterFile (0700)
	CounterFile = "card.counter"
	cardKeySize = 32
)

// Factory values of a fresh card (cardproto; issue 12).
const (
	TransportPIN  = cardproto.TransportPIN
	DefaultAdmin  = cardproto.DefaultAdmin
	MaxUserTries  = cardproto.MaxUserTries
	MaxAdminTries = cardproto.MaxAdminTries
	MinPINLen     = cardproto.MinPINLen
	MaxPINLen     = cardproto.MaxPINLen
)

// PIN references (cardproto; ISO/IEC 7816-4 §11.5.6).
const (
	RefUser  = cardproto.RefUser
	RefAdmin = cardproto.RefAdmin
)

// Errors of Open and of the store underneath.
var (
	ErrKeyFile = errors.New("card: card key file")
	ErrInUse   = errors.New("card: directory in use by another card process")
)

// Options configures Open.
type Options struct {
	Logger *zap.Logger      // tee.NewLogger("se", …) in fpemu se; it never gets PINs or keys
	Rand   io.Reader        // default crypto/rand
	Now    func() time.Time // certificate validity checks; default time.Now
	// Weaken makes a deliberately broken card: a test double for the
	// attack suite's canaries (sim/attack TestShieldCanaries), which
	// prove each shield row can fail. fpemu se never sets it; a card
	// opened with any weakening logs a warning.
	Weaken Weakening
}

// Weakening is one or more checks a canary card leaves out. The zero
// value is the real card.
type Weakening struct {
	// NoPINLock: PIN comparisons spend no try and never block (a card
	// without a retry counter).
	NoPINLock bool
	// NoServerCheck: the server's signature over a login random or a
	// pre-submit is not checked against the pinned certificate (a card
	// that signs whatever the host passes).
	NoServerCheck bool
	// NoSMReplayCheck: a protected command identical to the last one is
	// answered again from a retransmission cache, without the send
	// sequence counter (a card that "helps" retries).
	NoSMReplayCheck bool
}

// Any reports whether some check is left out.
func (w Weakening) Any() bool { return w.NoPINLock || w.NoServerCheck || w.NoSMReplayCheck }

// Card is one card's persistent state. Its methods are safe for
// concurrent use; APDUs are processed one at a time, as on a card.
type Card struct {
	mu   sync.Mutex // serialises APDU processing (one card, one CPU)
	st   *store.Store
	lock *os.File
	log  *zap.Logger
	rand io.Reader
	now  func() time.Time
	weak Weakening
}

var schema = store.Schema{
	store.SQL("card objects", `CREATE TABLE objects (name TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID`),
	store.Func("factory state", initFactory),
}

// Open opens (creating on first use) the card in dir: the owner-only
// directory (tee/devdir checks), the card key, the lock that keeps a
// second process off the same card, and the sealed store with its
// rollback counter in dir/rpmb.
func Open(dir string, o Options) (c *Card, err error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := devdir.PrepareDeviceDir(dir); err != nil {
		return nil, err
	}
	lockPath := filepath.Join(dir, LockFile)
	if err := devdir.CheckFile(lockPath); err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("card: lock: %w", err)
	}
	defer func() {
		if err != nil {
			_ = lf.Close()
		}
	}()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInUse, dir)
	}
	key, err := loadOrCreateKey(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, err
	}
	data, err := devdir.EnsureDir(dir, DataDir)
	if err != nil {
		return nil, err
	}
	rpmb, err := devdir.EnsureDir(dir, RPMBDir)
	if err != nil {
		return nil, err
	}
	dbPath := filepath.Join(data, DBFile)
	for _, p := range []string{dbPath, dbPath + "-wal", dbPath + "-shm", filepath.Join(rpmb, CounterFile)} {
		if err := devdir.CheckFile(p); err != nil {
			return nil, err
		}
	}
	ctr, err := store.OpenFileCounter(filepath.Join(rpmb, CounterFile), key)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(dbPath, key, schema, store.WithCounter(ctr))
	if err != nil {
		return nil, fmt.Errorf("card: EEPROM: %w", err)
	}
	if o.Weaken.Any() {
		o.Logger.Warn("WEAKENED CARD: a test double with checks left out", zap.Bool("no_pin_lock", o.Weaken.NoPINLock),
			zap.Bool("no_server_check", o.Weaken.NoServerCheck), zap.Bool("no_sm_replay_check", o.Weaken.NoSMReplayCheck))
	}
	return &Card{st: st, lock: lf, log: o.Logger, rand: o.Rand, now: o.Now, weak: o.Weaken}, nil
}

// Close closes the store and releases the directory.
func (c *Card) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.st.Close()
	return errors.Join(err, c.lock.Close())
}

// loadOrCreateKey reads the card key, or creates it (0600, O_EXCL) on
// first use. An existing key must be a regular file of the owner, mode
// 0600, exactly cardKeySize bytes; the error never carries key bytes.
func loadOrCreateKey(path string) ([]byte, error) {
	if err := devdir.CheckFile(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err == nil {
		key := make([]byte, cardKeySize)
		if _, err := io.ReadFull(rand.Reader, key); err != nil {
			_ = f.Close()
			_ = os.Remove(path)
			return nil, fmt.Errorf("%w: random: %v", ErrKeyFile, err)
		}
		_, werr := f.Write(key)
		serr := f.Sync()
		cerr := f.Close()
		if err := errors.Join(werr, serr, cerr); err != nil {
			_ = os.Remove(path)
			return nil, fmt.Errorf("%w: write: %v", ErrKeyFile, err)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	f, err = os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyFile, err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != cardKeySize {
		return nil, fmt.Errorf("%w: %s must be mode 0600 and %d bytes (it is %04o, %d bytes)", ErrKeyFile, path, cardKeySize, fi.Mode().Perm(), fi.Size())
	}
	key := make([]byte, cardKeySize)
	if _, err := io.ReadFull(f, key); err != nil {
		return nil, fmt.Errorf("%w: read: %v", ErrKeyFile, err)
	}
	return key, nil
}

// Object names of the objects table; every value is sealed with the row's
// name as its identity.
const (
	objUserPIN  = "pin.user"
	objAdminPIN = "pin.admin"
	objKey      = "key.sign"  // SM2 private scalar, 32 bytes
	objCert     = "cert.sign" // DER X.509 of the signing key
	objSerial   = "serial"    // 8 random bytes
)

func ident(name string) []byte { return store.Identity(store.Str(name)) }

func put(tx *store.Tx, name string, v []byte) error {
	return tx.PutSealed("objects", ident(name), v,
		`INSERT INTO objects(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value`, name)
}

func get(tx *store.Tx, name string) ([]byte, bool, error) {
	return tx.LoadSealed("objects", ident(name), `SELECT value FROM objects WHERE name = ?`, name)
}

func del(tx *store.Tx, name string) error {
	_, err := tx.Exec(`DELETE FROM objects WHERE name = ?`, name)
	return err
}

// pinRecord is a PIN as stored: a salted SM3 hash (never the PIN), the
// tries left, the maximum, and whether it is still the factory value.
//
//	0  16  salt
//	16 32  SM3(salt ‖ PIN)
//	48 1   tries left
//	49 1   maximum
//	50 1   1 = factory value (transport PIN), 0 = changed
type pinRecord struct {
	salt    [16]byte
	hash    [32]byte
	tries   int
	max     int
	factory bool
}

const pinRecordSize = 51

func newPIN(r io.Reader, pin string, maxTries int, factory bool) (pinRecord, error) {
	p := pinRecord{tries: maxTries, max: maxTries, factory: factory}
	if _, err := io.ReadFull(r, p.salt[:]); err != nil {
		return p, fmt.Errorf("card: random: %w", err)
	}
	p.hash = pinHash(p.salt, pin)
	return p, nil
}

func pinHash(salt [16]byte, pin string) [32]byte {
	h := sm3.New()
	h.Write(salt[:])
	h.Write([]byte(pin))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// matches compares in constant time.
func (p pinRecord) matches(pin string) bool {
	h := pinHash(p.salt, pin)
	return subtle.ConstantTimeCompare(h[:], p.hash[:]) == 1
}

func (p pinRecord) marshal() []byte {
	b := make([]byte, 0, pinRecordSize)
	b = append(b, p.salt[:]...)
	b = append(b, p.hash[:]...)
	f := byte(0)
	if p.factory {
		f = 1
	}
	return append(b, byte(p.tries), byte(p.max), f)
}

func parsePIN(b []byte) (pinRecord, error) {
	var p pinRecord
	if len(b) != pinRecordSize || b[49] == 0 || int(b[48]) > int(b[49]) || b[50] > 1 {
		return p, errors.New("card: corrupt PIN record")
	}
	copy(p.salt[:], b[:16])
	copy(p.hash[:], b[16:48])
	p.tries, p.max, p.factory = int(b[48]), int(b[49]), b[50] == 1
	return p, nil
}

func pinName(ref byte) string {
	if ref == RefAdmin {
		return objAdminPIN
	}
	return objUserPIN
}

func loadPIN(tx *store.Tx, ref byte) (pinRecord, error) {
	b, ok, err := get(tx, pinName(ref))
	if err != nil {
		return pinRecord{}, err
	}
	if !ok {
		return pinRecord{}, errors.New("card: PIN record missing")
	}
	return parsePIN(b)
}

func putPIN(tx *store.Tx, ref byte, p pinRecord) error { return put(tx, pinName(ref), p.marshal()) }

// initFactory writes a fresh card's state: the transport user PIN, the
// default admin PIN, a random serial number, no key, no certificate.
func initFactory(tx *store.Tx) error {
	user, err := newPIN(rand.Reader, TransportPIN, MaxUserTries, true)
	if err != nil {
		return err
	}
	admin, err := newPIN(rand.Reader, DefaultAdmin, MaxAdminTries, true)
	if err != nil {
		return err
	}
	serial := make([]byte, 8)
	if _, err := io.ReadFull(rand.Reader, serial); err != nil {
		return err
	}
	if err := putPIN(tx, RefUser, user); err != nil {
		return err
	}
	if err := putPIN(tx, RefAdmin, admin); err != nil {
		return err
	}
	return put(tx, objSerial, serial)
}

// TriesLeft returns the tries left of a PIN (RefUser or RefAdmin), for
// tests and `fpemu se` status output.
func (c *Card) TriesLeft(ctx context.Context, ref byte) (int, error) {
	var n int
	err := c.st.View(ctx, func(tx *store.Tx) error {
		p, err := loadPIN(tx, ref)
		n = p.tries
		return err
	})
	return n, err
}

// Serial returns the card's serial number.
func (c *Card) Serial(ctx context.Context) ([]byte, error) {
	var s []byte
	err := c.st.View(ctx, func(tx *store.Tx) error {
		b, ok, err := get(tx, objSerial)
		if err == nil && !ok {
			err = errors.New("card: serial missing")
		}
		s = b
		return err
	})
	return s, err
}
