package envelope

import (
	"fmt"
	"sync"

	"github.com/fpemu/fpemu/tee"
)

// ReplayGuard keeps, per route, the highest sequence number the recipient
// has accepted, and accepts only numbers above it. That rejects replays
// and reorderings alike: an envelope delayed behind a later one on the same
// route is lost, which the relaying REE could cause anyway by dropping it.
type ReplayGuard interface {
	// Accept atomically checks that seq is above route's high-water mark
	// and records seq as the new mark. If seq is not above the mark it
	// returns an error wrapping ErrReplay and records nothing; any other
	// error (a failed store) also records nothing.
	Accept(route tee.Route, seq uint64) error
}

// MarkStore persists per-route high-water marks. A TA backs it with one
// row per route of its sealed SQLite store: LoadMark is a SELECT,
// StoreMark an UPSERT in its own transaction. Marks must be scoped to the
// current boot (key the row by boot.BootID, or clear them at start-up):
// pairwise keys and sender sequence numbers both restart with every boot.
type MarkStore interface {
	// LoadMark returns the mark of route, 0 if none is stored.
	LoadMark(route tee.Route) (uint64, error)
	// StoreMark durably records seq as the mark of route.
	StoreMark(route tee.Route, seq uint64) error
}

// MarkGuard is a ReplayGuard over a MarkStore. It serializes Accept, so
// the store needs no locking of its own for a single guard.
type MarkGuard struct {
	mu    sync.Mutex
	store MarkStore
}

// NewMarkGuard returns a ReplayGuard backed by s.
func NewMarkGuard(s MarkStore) *MarkGuard { return &MarkGuard{store: s} }

// NewMemoryGuard returns a ReplayGuard that keeps marks in memory. It
// forgets them when the process exits, so a recipient restarted within the
// same boot would accept a replay of an envelope it had already opened; a
// TA that must survive restarts uses NewMarkGuard over its store.
func NewMemoryGuard() *MarkGuard { return NewMarkGuard(NewMemoryMarks()) }

// Accept implements ReplayGuard.
func (g *MarkGuard) Accept(route tee.Route, seq uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	mark, err := g.store.LoadMark(route)
	if err != nil {
		return fmt.Errorf("envelope: load replay mark of %s: %w", route, err)
	}
	if seq <= mark {
		return fmt.Errorf("%w: %s sequence %d, already accepted up to %d", ErrReplay, route, seq, mark)
	}
	if err := g.store.StoreMark(route, seq); err != nil {
		return fmt.Errorf("envelope: store replay mark of %s: %w", route, err)
	}
	return nil
}

// MemoryMarks is an in-memory MarkStore, safe for concurrent use.
type MemoryMarks struct {
	mu    sync.Mutex
	marks map[tee.Route]uint64
}

// NewMemoryMarks returns an empty MemoryMarks.
func NewMemoryMarks() *MemoryMarks { return &MemoryMarks{marks: make(map[tee.Route]uint64)} }

// LoadMark implements MarkStore.
func (m *MemoryMarks) LoadMark(route tee.Route) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.marks[route], nil
}

// StoreMark implements MarkStore.
func (m *MemoryMarks) StoreMark(route tee.Route, seq uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.marks[route] = seq
	return nil
}
