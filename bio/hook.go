package bio

import (
	"fmt"
	"slices"
	"sync"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
)

// Hook is what the fingerprint TA calls, mirroring the two entry points of
// Qualcomm QSEE's bio library:
//
//   - SetAuthResult after every authenticate attempt, like
//     set_auth_result(result, finger_id, operation_id) →
//     bio_set_auth_result(&bio_res, NULL);
//   - SetFingerList at start-up and after every enroll and remove (the
//     "fingerprint list" interface).
//
// Implementations must not block on the REE: the fingerprint TA calls them
// on its command path.
type Hook interface {
	// SetAuthResult reports one authenticate outcome. result is 0 for a
	// match (AOSP style); fingerID is the matched finger (ignored and sent
	// as 0 on failure, HIDL 2.1 semantics); operationID is the
	// authenticate operation_id (the HAT challenge, the payment
	// transaction id); m is the match context the payment TA binds keys
	// to.
	SetAuthResult(result uint32, fingerID uint32, operationID uint64, m Match) error
	// SetFingerList reports the enrolled fingers of group gid (any order;
	// duplicates are an error) and its current authenticator id.
	SetFingerList(gid uint32, authenticatorID uint64, fingerIDs []uint32) error
}

// Match is the context of an authenticate that SetAuthResult carries
// beside the QSEE triple.
type Match struct {
	// UserID is the SID bound to the matched template (the HAT user_id).
	// Zero on failure.
	UserID uint64
	// AuthenticatorID is the group's current authenticator id.
	AuthenticatorID uint64
	// GroupID is the group authenticated against.
	GroupID uint32
	// SensorVersion identifies the sensor and matcher (vendor-defined).
	SensorVersion uint32
}

// Discard is a Hook that drops every message: for a fingerprint TA built
// without a payment TA. Its methods never fail.
type Discard struct{}

// SetAuthResult implements Hook.
func (Discard) SetAuthResult(uint32, uint32, uint64, Match) error { return nil }

// SetFingerList implements Hook.
func (Discard) SetFingerList(uint32, uint64, []uint32) error { return nil }

// MaxPending bounds a Sender's outbox.
const MaxPending = 32

// Sender is the Hook of a real fingerprint TA: it encodes each message,
// seals it for the payment TA (envelope types MsgBioAuthResult and
// MsgFingerList, recipient tee.UUIDPayment) and appends it to an outbox.
// The fingerprint TA exposes a command that drains the outbox (Drain); the
// HAL or payment app relays each envelope, in order, to the payment TA's
// DELIVER command.
//
// Order matters: the payment TA rejects an envelope whose sequence number
// is not above the last one it accepted on the route, so Drain returns
// envelopes in the order they were sealed and the relay must deliver them
// in that order. To keep the outbox bounded without breaking that order:
//
//   - a new finger list for a group removes any older pending list for the
//     same group (it is superseded) and is appended at the end;
//   - when MaxPending envelopes are pending, the oldest auth result is
//     evicted (auth results expire within seconds anyway); if none is
//     pending the call fails with ErrOutboxFull.
//
// A Sender is safe for concurrent use.
type Sender struct {
	sealer *envelope.Sealer
	clock  tee.Clock

	mu      sync.Mutex
	pending []pending
	evicted uint64
}

type pending struct {
	typ   envelope.MsgType
	gid   uint32 // finger lists: the group, for coalescing
	bytes []byte
}

// NewSender returns a Sender sealing with s, which must belong to the
// fingerprint TA and hold the fingerprint → payment key, and stamping
// messages with clock (the device boot clock).
func NewSender(s *envelope.Sealer, clock tee.Clock) (*Sender, error) {
	if s == nil || clock == nil {
		return nil, fmt.Errorf("%w: nil sealer or clock", ErrBadConfig)
	}
	if s.Self() != tee.UUIDFingerprint {
		return nil, fmt.Errorf("%w: sealer belongs to %s, want the fingerprint TA", ErrBadConfig, s.Self())
	}
	return &Sender{sealer: s, clock: clock}, nil
}

// SetAuthResult implements Hook. On failure (result != 0) the finger id is
// sent as 0.
func (s *Sender) SetAuthResult(result uint32, fingerID uint32, operationID uint64, m Match) error {
	r := AuthResult{
		Result:          result,
		UserID:          m.UserID,
		AuthenticatorID: m.AuthenticatorID,
		GroupID:         m.GroupID,
		FingerID:        fingerID,
		SensorVersion:   m.SensorVersion,
		TransactionID:   operationID,
		TimestampMs:     s.clock.NowMs(),
	}
	if result != ResultSuccess {
		r.FingerID = 0
	}
	b, err := r.Marshal()
	if err != nil {
		return err
	}
	return s.enqueue(envelope.MsgBioAuthResult, m.GroupID, b)
}

// SetFingerList implements Hook. fingerIDs may be in any order; it is not
// retained.
func (s *Sender) SetFingerList(gid uint32, authenticatorID uint64, fingerIDs []uint32) error {
	fids := slices.Clone(fingerIDs)
	slices.Sort(fids)
	l := FingerList{GroupID: gid, AuthenticatorID: authenticatorID, FingerIDs: fids, TimestampMs: s.clock.NowMs()}
	b, err := l.Marshal()
	if err != nil {
		return err
	}
	return s.enqueue(envelope.MsgFingerList, gid, b)
}

func (s *Sender) enqueue(typ envelope.MsgType, gid uint32, payload []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Seal under the lock so outbox order is sequence order.
	if typ == envelope.MsgFingerList {
		s.pending = slices.DeleteFunc(s.pending, func(p pending) bool {
			return p.typ == envelope.MsgFingerList && p.gid == gid
		})
	}
	if len(s.pending) >= MaxPending {
		i := slices.IndexFunc(s.pending, func(p pending) bool { return p.typ == envelope.MsgBioAuthResult })
		if i < 0 {
			return fmt.Errorf("%w: %d envelopes pending", ErrOutboxFull, len(s.pending))
		}
		s.pending = slices.Delete(s.pending, i, i+1)
		s.evicted++
	}
	env, err := s.sealer.Seal(tee.UUIDPayment, typ, payload)
	if err != nil {
		return fmt.Errorf("bio: seal %s: %w", typ, err)
	}
	s.pending = append(s.pending, pending{typ: typ, gid: gid, bytes: env})
	return nil
}

// Drain removes and returns pending envelopes, oldest first, as many whole
// envelopes as fit in maxBytes together (all of them when maxBytes <= 0).
// If the oldest alone does not fit, it returns nothing and leaves the
// outbox as it is; the caller reports the size needed with PendingSize.
func (s *Sender) Drain(maxBytes int) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, total := 0, 0
	for _, p := range s.pending {
		if maxBytes > 0 && total+len(p.bytes) > maxBytes {
			break
		}
		total += len(p.bytes)
		n++
	}
	out := make([][]byte, n)
	for i := range n {
		out[i] = s.pending[i].bytes
	}
	s.pending = slices.Delete(s.pending, 0, n)
	return out
}

// Pending returns the number of envelopes waiting in the outbox.
func (s *Sender) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// PendingSize returns the size of the oldest pending envelope (0 when the
// outbox is empty): the smallest maxBytes with which Drain makes progress.
func (s *Sender) PendingSize() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return 0
	}
	return len(s.pending[0].bytes)
}

// Evicted returns how many auth results were dropped because the outbox
// was full.
func (s *Sender) Evicted() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evicted
}
