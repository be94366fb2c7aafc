package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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

// Counter record, version 1 (45 bytes; the whole file of a v1 counter,
// which FileCounter still reads and migrates to version 2 on its first
// write):
//
//	offset  size  field
//	0       4     magic "FPMC"
//	4       1     version (0x01)
//	5       8     counter value, u64 big-endian
//	13      32    HMAC-SHA256(counter key, bytes 0..12)
//
// Counter slot, version 2 (46 bytes):
//
//	offset  size  field
//	0       4     magic "FPMC"
//	4       1     version (0x02)
//	5       1     slot index (0x00 A, 0x01 B; must match the slot's place)
//	6       8     counter value, u64 big-endian
//	14      32    HMAC-SHA256(counter key, bytes 0..13)
//
// A version 2 counter file is counterFileSize (4142) bytes: slot A at
// offset 0, zero bytes up to offset 4096, slot B at offset 4096. Each slot
// sits in its own 4 KiB block, so a write torn by a power loss (the device
// writes at most one block non-atomically) damages at most the slot being
// written, never the other one.
//
// The counter key is HKDF-SHA256(storage key, "fpemu/tee/store/v1 rpmb
// authentication key HMAC-SHA256"), the analogue of the RPMB authentication
// key that signs every RPMB write frame (JEDEC JESD84-B51 §6.6.22).
const (
	counterMagic      = "FPMC"
	counterVersion    = 0x01
	counterRecordSize = 4 + 1 + 8 + sha256.Size

	counterVersion2 = 0x02
	counterSlotSize = 4 + 1 + 1 + 8 + sha256.Size
	// counterSlotStride is the offset of slot B: one 4 KiB block per slot.
	counterSlotStride = 4096
	counterFileSize   = counterSlotStride + counterSlotSize
)

// FileCounter is a MonotonicCounter kept in one small file, authenticated
// with an HMAC keyed from the TA's storage key, so that an edited counter
// file is detected (ErrCounterTampered). The launcher gives it a path
// outside the TA's database directory, standing in for RPMB, which the REE
// cannot write. What the HMAC cannot stop — restoring an older counter file
// — real RPMB stops with its write counter and read nonces; the emulation
// relies on the file living outside REE-writable storage.
//
// The file is opened once (O_NOFOLLOW; it must be a regular file owned by
// this user with one link, else ErrCounterTampered) and kept open until
// Close. A write is one pwrite of one 46-byte slot, in place: the two
// slots A and B are written alternately, so the slot holding the current
// value is never the one being overwritten. Reading takes the highest
// valid slot. A torn or otherwise invalid slot is tolerated as long as the
// other one is valid: it can only make the value read lower (the previous
// value), and the store accepts a database ahead of its counter (the
// counter catches up). Both slots invalid is ErrCounterTampered. With
// DurabilityPower the write is followed by fdatasync; with
// DurabilityProcess it is not (the page cache survives a kill -9).
//
// After the first authenticated read the value is kept in memory, and
// Increment compares against that value, not against the file: a file
// rewound while the process runs cannot make Increment go backwards, and
// Read reports such a file as ErrCounterTampered. Creating the file (the
// first write) and migrating a version 1 file are done once, atomically
// (temp file, rename).
//
// It is safe for concurrent use within one process; one TA process owns
// one counter file, and only one FileCounter may write it.
type FileCounter struct {
	mu   sync.Mutex
	path string
	key  []byte
	sync bool

	f      *os.File // nil until the file is first seen
	loaded bool     // v, slot and version hold an authenticated read
	v      uint64
	slot   int // slot holding v (version 2); the next write goes to the other
	ver    int // 0 no file, 1 or 2
	buf    [counterSlotSize]byte
}

// CounterOption configures OpenFileCounter.
type CounterOption func(*FileCounter)

// CounterDurability sets what a counter write survives, matching the
// store's WithDurability (default DurabilityPower: fdatasync after each
// write; DurabilityProcess skips it, and after a power loss the newest
// slot may be lost or torn, which reads as the previous value — tolerated
// like a crash between commit and counter write — or, if the file was
// created without reaching the disk, as ErrCounterTampered, failing closed
// like the store's own DurabilityProcess).
func CounterDurability(d Durability) CounterOption {
	return func(c *FileCounter) { c.sync = d != DurabilityProcess }
}

// OpenFileCounter returns the counter at path, keyed from storageKey. The
// file need not exist yet (a counter never written reads 0); its directory
// must. The file is opened on first use and held until Close.
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

// Close releases the counter file. A closed FileCounter may be used again;
// it then reopens the file (and keeps the value it had read).
func (c *FileCounter) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}

// Read returns the authenticated counter value. It reads the file each
// time (Read is not on a commit's path): a file that no longer
// authenticates, or that is below the value this FileCounter has read or
// written, is ErrCounterTampered.
func (c *FileCounter) Read() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.readFileLocked()
	if err != nil {
		return 0, err
	}
	if c.loaded && st.value < c.v {
		return 0, fmt.Errorf("%w: file rewound below the value this process holds", ErrCounterTampered)
	}
	c.v, c.slot, c.ver, c.loaded = st.value, st.slot, st.version, true
	return c.v, nil
}

// Increment advances the counter to `to` (see MonotonicCounter). After the
// first read it does not read the file again.
func (c *FileCounter) Increment(to uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded {
		st, err := c.readFileLocked()
		if err != nil {
			return err
		}
		c.v, c.slot, c.ver, c.loaded = st.value, st.slot, st.version, true
	}
	switch {
	case to == c.v:
		return nil
	case to < c.v:
		return fmt.Errorf("%w: at %d, asked for %d", ErrCounterBackwards, c.v, to)
	}
	if c.ver != counterVersion2 {
		// No file yet, or a version 1 file: write the version 2 file once,
		// atomically, with both slots at `to`.
		if err := c.createLocked(to); err != nil {
			return err
		}
		c.v, c.slot, c.ver = to, 0, counterVersion2
		return nil
	}
	if c.f == nil {
		if err := c.openLocked(); err != nil {
			return err
		}
	}
	next := 1 - c.slot
	rec := appendCounterSlot(c.buf[:0], c.key, next, to)
	if _, err := c.f.WriteAt(rec, int64(next*counterSlotStride)); err != nil {
		// The other slot still holds c.v; a torn slot reads as invalid.
		return fmt.Errorf("store: write counter: %w", err)
	}
	if c.sync {
		if err := fdatasync(c.f); err != nil {
			return fmt.Errorf("store: sync counter: %w", err)
		}
	}
	c.v, c.slot = to, next
	return nil
}

// openLocked opens the counter file read-write without following a
// symbolic link and checks it is a regular file of ours with one link.
// A missing file leaves c.f nil and returns fs.ErrNotExist.
func (c *FileCounter) openLocked() error {
	f, err := os.OpenFile(c.path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if errors.Is(err, syscall.ELOOP) {
			return fmt.Errorf("%w: counter file is a symbolic link", ErrCounterTampered)
		}
		if errors.Is(err, syscall.EISDIR) {
			return fmt.Errorf("%w: counter file is a directory", ErrCounterTampered)
		}
		return fmt.Errorf("store: open counter: %w", err)
	}
	if err := checkCounterFile(f); err != nil {
		f.Close()
		return err
	}
	c.f = f
	return nil
}

func checkCounterFile(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: stat counter: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: counter file is not a regular file", ErrCounterTampered)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if int(st.Uid) != os.Geteuid() {
			return fmt.Errorf("%w: counter file owned by uid %d", ErrCounterTampered, st.Uid)
		}
		if st.Nlink > 1 {
			return fmt.Errorf("%w: counter file has %d links", ErrCounterTampered, st.Nlink)
		}
	}
	return nil
}

// counterState is what a counter file says.
type counterState struct {
	value   uint64
	slot    int // version 2: the slot holding value
	version int // 0 (no file), 1 or 2
}

// readFileLocked reads and authenticates the whole file (at most
// counterFileSize+1 bytes are read, whatever the file's size).
func (c *FileCounter) readFileLocked() (counterState, error) {
	if c.f == nil {
		if err := c.openLocked(); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return counterState{}, nil
			}
			return counterState{}, err
		}
	}
	b := make([]byte, counterFileSize+1)
	n, err := c.f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return counterState{}, fmt.Errorf("store: read counter: %w", err)
	}
	return parseCounterFile(c.key, b[:n])
}

// createLocked replaces the file (absent or version 1) with a version 2
// file whose two slots hold v, and reopens it.
func (c *FileCounter) createLocked(v uint64) error {
	b := make([]byte, counterFileSize)
	appendCounterSlot(b[:0], c.key, 0, v)
	appendCounterSlot(b[counterSlotStride:counterSlotStride], c.key, 1, v)
	if err := writeFileAtomic(c.path, b, c.sync); err != nil {
		return err
	}
	if c.f != nil {
		_ = c.f.Close() // the old (version 1) inode
		c.f = nil
	}
	return c.openLocked()
}

// parseCounterFile is the strict, pure parser of a whole counter file: a
// version 1 record (counterRecordSize bytes) or a version 2 file
// (counterFileSize bytes, zero padding between the slots, at least one
// valid slot; the highest valid slot wins, slot A on a tie). Any other
// content is ErrCounterTampered. An empty input is not "no file": it is
// tampered (a missing file is handled by the caller).
func parseCounterFile(key, b []byte) (counterState, error) {
	switch len(b) {
	case counterRecordSize:
		v, err := parseCounterRecord(key, b)
		if err != nil {
			return counterState{}, err
		}
		return counterState{value: v, version: counterVersion}, nil
	case counterFileSize:
	default:
		return counterState{}, fmt.Errorf("%w: %d bytes, want %d", ErrCounterTampered, len(b), counterFileSize)
	}
	for _, x := range b[counterSlotSize:counterSlotStride] {
		if x != 0 {
			return counterState{}, fmt.Errorf("%w: non-zero padding", ErrCounterTampered)
		}
	}
	va, errA := parseCounterSlot(key, 0, b[:counterSlotSize])
	vb, errB := parseCounterSlot(key, 1, b[counterSlotStride:])
	switch {
	case errA != nil && errB != nil:
		return counterState{}, fmt.Errorf("%w: no valid slot", ErrCounterTampered)
	case errB != nil || (errA == nil && va >= vb):
		return counterState{value: va, slot: 0, version: counterVersion2}, nil
	default:
		return counterState{value: vb, slot: 1, version: counterVersion2}, nil
	}
}

// appendCounterSlot appends the version 2 slot record for (slot, v).
func appendCounterSlot(b, key []byte, slot int, v uint64) []byte {
	start := len(b)
	b = append(b, counterMagic...)
	b = append(b, counterVersion2, byte(slot))
	b = binary.BigEndian.AppendUint64(b, v)
	m := hmac.New(sha256.New, key)
	m.Write(b[start:])
	return m.Sum(b)
}

// parseCounterSlot authenticates one version 2 slot found at index slot.
func parseCounterSlot(key []byte, slot int, b []byte) (uint64, error) {
	if len(b) != counterSlotSize {
		return 0, fmt.Errorf("%w: slot of %d bytes", ErrCounterTampered, len(b))
	}
	if string(b[:4]) != counterMagic || b[4] != counterVersion2 || int(b[5]) != slot {
		return 0, fmt.Errorf("%w: bad slot header", ErrCounterTampered)
	}
	m := hmac.New(sha256.New, key)
	m.Write(b[:14])
	if !hmac.Equal(m.Sum(nil), b[14:]) {
		return 0, fmt.Errorf("%w: slot authentication failed", ErrCounterTampered)
	}
	return binary.BigEndian.Uint64(b[6:14]), nil
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

// parseCounterRecord is the strict, pure parser of a version 1 counter
// record.
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
// cache survives it), rename it over path. FileCounter uses it once per
// file (creation, or migration from version 1), never per write. The
// directory is deliberately not fsynced: after a power loss the rename may
// be undone, leaving no file or the version 1 file (a lower value), which
// the store tolerates — a database ahead of its counter is accepted and
// the counter catches up.
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
