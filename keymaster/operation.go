package keymaster

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
)

// DefaultMaxOperations is the default cap on concurrent operations: the
// size of Trusty keymaster's operation table (kOperationTableSize = 16).
const DefaultMaxOperations = 16

// operation is one begun signing operation.
type operation struct {
	handle uint64
	owner  uint64 // the session that began it
	auth   Authorization

	mu     sync.Mutex // serialises update/finish/abort of this operation
	signer *signer
	done   bool // set under mu once the operation is finished or destroyed
}

// opTable holds live operations, keyed by handle. Handles are random,
// non-zero u64s (KMR: op handle = rng.next_u64(), also the challenge
// returned by begin), unique among live operations.
type opTable struct {
	mu  sync.Mutex
	ops map[uint64]*operation
	max int
}

func newOpTable(max int) *opTable {
	if max <= 0 {
		max = DefaultMaxOperations
	}
	return &opTable{ops: make(map[uint64]*operation), max: max}
}

// randomHandle returns a random non-zero u64 from crypto/rand.
func randomHandle() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("keymaster: operation handle: %w", err)
		}
		if h := binary.BigEndian.Uint64(b[:]); h != 0 {
			return h, nil
		}
	}
}

// add stores op under a fresh handle. A full table is TOO_MANY_OPERATIONS
// (-31) (KM OperationTable::Add; KeyMint begin).
func (t *opTable) add(op *operation) (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.ops) >= t.max {
		return 0, kmErr(ErrorTooManyOperations, "%d operations in progress", len(t.ops))
	}
	for {
		h, err := randomHandle()
		if err != nil {
			return 0, err
		}
		if _, taken := t.ops[h]; !taken {
			op.handle = h
			t.ops[h] = op
			return h, nil
		}
	}
}

// get returns the live operation with handle h begun by session owner,
// with its mutex held. An unknown handle, one belonging to another
// session, or one finished concurrently is INVALID_OPERATION_HANDLE (-28).
func (t *opTable) get(h, owner uint64) (*operation, error) {
	t.mu.Lock()
	op, ok := t.ops[h]
	t.mu.Unlock()
	if !ok || op.owner != owner {
		return nil, kmErr(ErrorInvalidOperationHandle, "no operation %#x in this session", h)
	}
	op.mu.Lock()
	if op.done {
		op.mu.Unlock()
		return nil, kmErr(ErrorInvalidOperationHandle, "operation %#x already ended", h)
	}
	return op, nil
}

// end destroys op (whose mutex the caller holds) and releases the mutex.
func (t *opTable) end(op *operation) {
	op.done = true
	op.signer = nil
	op.mu.Unlock()
	t.mu.Lock()
	if t.ops[op.handle] == op {
		delete(t.ops, op.handle)
	}
	t.mu.Unlock()
}

// endOwner destroys every operation of session owner (session close).
func (t *opTable) endOwner(owner uint64) int {
	t.mu.Lock()
	var mine []*operation
	for _, op := range t.ops {
		if op.owner == owner {
			mine = append(mine, op)
		}
	}
	t.mu.Unlock()
	for _, op := range mine {
		op.mu.Lock()
		if op.done {
			op.mu.Unlock()
			continue
		}
		t.end(op)
	}
	return len(mine)
}

// len returns the number of live operations.
func (t *opTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.ops)
}
