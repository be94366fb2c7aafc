package keymaster

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fpemu/fpemu/keymaster/kmproto"
)

// DefaultMaxOperations is the default cap on concurrent operations: the
// protocol's kmproto.OperationSlots.
const DefaultMaxOperations = kmproto.OperationSlots

// Sharing the operation slots between clients (docs/protocol.md §2.1,
// "Operation slots"). A full table does not refuse a BEGIN outright: as
// Android's keystore2 does in front of KeyMint (OperationDb::prune in
// system/security/keystore2/src/operation.rs), it prunes one operation
// chosen by a malus, so that one client cannot hold every slot:
//
//   - a client is the CA connection the session was opened on
//     (rpc.ConnID); an operation's siblings are its client's other
//     operations;
//   - the caller's malus is 1 + the number of operations it holds;
//   - a live operation's malus is the number of operations its client
//     holds + floor(log6(seconds since it was last used + 1)), so it rises
//     after 5 s, 35 s, 215 s idle;
//   - the caller prunes the operation with the highest malus above its
//     own (of equal ones, the least recently used); if there is none, its
//     own least recently used operation; if it has none either, BEGIN is
//     TOO_MANY_OPERATIONS. An operation running a command is never pruned.
//
// So a client holding all 16 slots loses its least recently used one to
// any other client's BEGIN, and can never prune the single fresh
// operation of a client holding fewer than it does. A pruned operation's
// handle is INVALID_OPERATION_HANDLE afterwards, as keystore2 reports a
// pruned operation. Pruning rather than a per-client cap: a cap either
// wastes slots while one client is alone or, set high, lets a few clients
// fill the table; pruning keeps every slot usable and still guarantees
// each client progress.

// operation is one begun signing operation.
type operation struct {
	handle uint64
	owner  uint64 // the session that began it
	client uint64 // the client (connection) whose session began it
	auth   Authorization

	lastUsed atomic.Int64 // monotonic ns of the last BEGIN/UPDATE/FINISH on it

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
	// noPrune refuses a BEGIN on a full table instead of pruning (the
	// behaviour before pruning; for tests that show why pruning exists).
	noPrune bool
	// pruned counts pruned operations.
	pruned atomic.Int64
	// now is the monotonic clock of lastUsed (mono; tests move it).
	now func() int64
}

func newOpTable(max int) *opTable {
	if max <= 0 {
		max = DefaultMaxOperations
	}
	return &opTable{ops: make(map[uint64]*operation), max: max, now: mono}
}

var monoEpoch = time.Now()

// mono returns monotonic nanoseconds.
func mono() int64 { return int64(time.Since(monoEpoch)) }

// malusAge is floor(log6(seconds idle + 1)), keystore2's age malus.
func malusAge(idleNs int64) int64 {
	secs := float64(max(idleNs, 0)/int64(time.Second)) + 1
	return int64(math.Floor(math.Log(secs) / math.Log(6)))
}

// pruneLocked frees one slot for client as the package comment says, or
// reports false. t.mu is held.
func (t *opTable) pruneLocked(client uint64) bool {
	now := t.now()
	count := map[uint64]int64{}
	for _, op := range t.ops {
		count[op.client]++
	}
	callerMalus := 1 + count[client]
	skip := map[*operation]bool{} // busy: running a command
	for {
		var best, ownOldest *operation
		var bestMalus int64
		for _, op := range t.ops {
			if skip[op] {
				continue
			}
			last := op.lastUsed.Load()
			if op.client == client && (ownOldest == nil || last < ownOldest.lastUsed.Load()) {
				ownOldest = op
			}
			m := count[op.client] + malusAge(now-last)
			if m <= callerMalus {
				continue
			}
			if best == nil || m > bestMalus || (m == bestMalus && last < best.lastUsed.Load()) {
				best, bestMalus = op, m
			}
		}
		victim := best
		if victim == nil {
			victim = ownOldest
		}
		if victim == nil {
			return false
		}
		if !victim.mu.TryLock() {
			skip[victim] = true
			continue
		}
		victim.done = true
		victim.signer = nil
		victim.mu.Unlock()
		delete(t.ops, victim.handle)
		t.pruned.Add(1)
		return true
	}
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

// add stores op under a fresh handle. A full table prunes an operation
// (see "Sharing the operation slots"); if none can be pruned it is
// TOO_MANY_OPERATIONS (-31) (KM OperationTable::Add; KeyMint begin).
func (t *opTable) add(op *operation) (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.ops) >= t.max && (t.noPrune || !t.pruneLocked(op.client)) {
		return 0, kmErr(kmproto.ErrorTooManyOperations, "%d operations in progress", len(t.ops))
	}
	op.lastUsed.Store(t.now())
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
		return nil, kmErr(kmproto.ErrorInvalidOperationHandle, "no operation %#x in this session", h)
	}
	op.mu.Lock()
	if op.done {
		op.mu.Unlock()
		return nil, kmErr(kmproto.ErrorInvalidOperationHandle, "operation %#x already ended or pruned", h)
	}
	op.lastUsed.Store(t.now())
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
