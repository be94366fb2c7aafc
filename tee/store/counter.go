package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"
)

// MonotonicCounter is the stand-in for an RPMB (eMMC Replay Protected
// Memory Block) write counter: a value the REE cannot rewind. OP-TEE keeps
// the hash of its REE-FS directory file in RPMB for the same purpose
// (CFG_REE_FS_INTEGRITY_RPMB): an older copy of REE-stored secure storage is
// detected because it is behind what RPMB says.
type MonotonicCounter interface {
	// Read returns the current value (0 for a counter never written).
	Read() (uint64, error)
	// Increment advances the counter to `to`. to equal to the current value
	// is a no-op; to below it is ErrCounterBackwards.
	Increment(to uint64) error
}

// Counter record file, version 1 (45 bytes):
//
//	offset  size  field
//	0       4     magic "FPMC"
//	4       1     version (0x01)
//	5       8     counter value, u64 big-endian
//	13      32    HMAC-SHA256(counter key, bytes 0..12)
//
// The counter key is HKDF-SHA256(storage key, "fpemu/tee/store/v1 rpmb
// authentication key HMAC-SHA256"), the analogue of the RPMB authentication
// key that signs every RPMB write frame (JEDEC JESD84-B51 §6.6.22).
const (
	counterMagic      = "FPMC"
	counterVersion    = 0x01
	counterRecordSize = 4 + 1 + 8 + sha256.Size
)

// FileCounter is a MonotonicCounter kept in one small file, authenticated
// with an HMAC keyed from the TA's storage key, so that an edited counter
// file is detected (ErrCounterTampered). The launcher gives it a path
// outside the TA's database directory, standing in for RPMB, which the REE
// cannot write. What the HMAC cannot stop — restoring an older counter file
// — real RPMB stops with its write counter and read nonces; the emulation
// relies on the file living outside REE-writable storage.
//
// Writes are atomic (temp file, rename), so a killed process leaves the
// old or the new value, never a torn record; with DurabilityPower the temp
// file is also fsynced before the rename, so a power loss cannot tear it
// either. It is safe for concurrent use within one process; one TA process
// owns one counter file.
type FileCounter struct {
	mu   sync.Mutex
	path string
	key  []byte
	sync bool
}

// CounterOption configures OpenFileCounter.
type CounterOption func(*FileCounter)

// CounterDurability sets what a counter write survives, matching the
// store's WithDurability (default DurabilityPower: fsync before the
// rename; DurabilityProcess skips it, and after a power loss the file may
// be torn, which reads as ErrCounterTampered — failing closed, like the
// store's own DurabilityProcess).
func CounterDurability(d Durability) CounterOption {
	return func(c *FileCounter) { c.sync = d != DurabilityProcess }
}

// OpenFileCounter returns the counter at path, keyed from storageKey. The
// file need not exist yet (a counter never written reads 0); its directory
// must.
func OpenFileCounter(path string, storageKey []byte, opts ...CounterOption) (*FileCounter, error) {
	if path == "" {
		return nil, invalidf("empty counter path")
	}
	key, err := deriveKey(storageKey, labelCounterKey, counterKeySize)
	if err != nil {
		return nil, err
	}
	c := &FileCounter{path: path, key: key, sync: true}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	return c, nil
}

// Path returns the counter file's path.
func (c *FileCounter) Path() string { return c.path }

// Read returns the authenticated counter value.
func (c *FileCounter) Read() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readLocked()
}

func (c *FileCounter) readLocked() (uint64, error) {
	b, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: read counter: %w", err)
	}
	return parseCounterRecord(c.key, b)
}

// Increment advances the counter to `to` (see MonotonicCounter).
func (c *FileCounter) Increment(to uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, err := c.readLocked()
	if err != nil {
		return err
	}
	switch {
	case to == cur:
		return nil
	case to < cur:
		return fmt.Errorf("%w: at %d, asked for %d", ErrCounterBackwards, cur, to)
	}
	return writeFileAtomic(c.path, marshalCounterRecord(c.key, to), c.sync)
}

func marshalCounterRecord(key []byte, v uint64) []byte {
	b := make([]byte, 0, counterRecordSize)
	b = append(b, counterMagic...)
	b = append(b, counterVersion)
	b = binary.BigEndian.AppendUint64(b, v)
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return m.Sum(b)
}

// parseCounterRecord is the strict, pure parser of a counter record.
func parseCounterRecord(key, b []byte) (uint64, error) {
	if len(b) != counterRecordSize {
		return 0, fmt.Errorf("%w: %d bytes, want %d", ErrCounterTampered, len(b), counterRecordSize)
	}
	if string(b[:4]) != counterMagic || b[4] != counterVersion {
		return 0, fmt.Errorf("%w: bad magic or version", ErrCounterTampered)
	}
	m := hmac.New(sha256.New, key)
	m.Write(b[:13])
	if !hmac.Equal(m.Sum(nil), b[13:]) {
		return 0, fmt.Errorf("%w: authentication failed", ErrCounterTampered)
	}
	return binary.BigEndian.Uint64(b[5:13]), nil
}

// writeFileAtomic replaces path with data so that a crash at any instant
// leaves either the old or the new content: write a temp file in the same
// directory, fsync it (if sync; a killed process needs no fsync: the page
// cache survives it), rename it over path. The directory is deliberately
// not fsynced: after a power loss the rename may be undone, leaving the
// previous (lower) value, which the store tolerates — a database ahead of
// its counter is accepted and the counter catches up — while the fsync of
// the content guarantees the file is never torn. That saves one fsync per
// write transaction; a process kill cannot undo the rename at all.
func writeFileAtomic(path string, data []byte, sync bool) error {
	tmp := path + ".tmp"
	// O_NOFOLLOW: a link planted at the temporary name is not written
	// through (the rename then replaces the link, not its target).
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("store: write counter: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("store: write counter: %w", err)
	}
	if err := syncIf(sync, f); err != nil {
		f.Close()
		return fmt.Errorf("store: sync counter: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store: write counter: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("store: write counter: %w", err)
	}
	return nil
}

// MemCounter is an in-memory MonotonicCounter for tests and for stores
// that share a process with their counter's owner. It is safe for
// concurrent use.
type MemCounter struct {
	mu sync.Mutex
	v  uint64
}

// NewMemCounter returns a MemCounter starting at v.
func NewMemCounter(v uint64) *MemCounter { return &MemCounter{v: v} }

// Read returns the value.
func (c *MemCounter) Read() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.v, nil
}

// Increment advances the value to `to` (see MonotonicCounter).
func (c *MemCounter) Increment(to uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if to < c.v {
		return fmt.Errorf("%w: at %d, asked for %d", ErrCounterBackwards, c.v, to)
	}
	c.v = to
	return nil
}

func syncIf(sync bool, f *os.File) error {
	if !sync {
		return nil
	}
	return f.Sync()
}
