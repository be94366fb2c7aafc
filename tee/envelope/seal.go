package envelope

import (
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"io"

	"github.com/emmansun/gmsm/sm4"

	"github.com/fpemu/fpemu/tee"
)

// newAEAD returns SM4-GCM (GB/T 32907-2016 in SP 800-38D GCM, 12-byte
// nonce, 16-byte tag) under k.
func newAEAD(k Key) (cipher.AEAD, error) {
	b, err := sm4.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Sealer seals envelopes from one TA to the recipients its manifest
// routes allow. It is safe for concurrent use; note that envelopes sealed
// concurrently for one recipient must also be opened in sequence order.
type Sealer struct {
	self  tee.UUID
	aeads map[tee.UUID]cipher.AEAD // by recipient
	seq   *Sequencer
	rand  io.Reader // nonce source: crypto/rand, replaced only by tests
}

// NewSealer returns a Sealer for TA self holding the keys of keys whose
// route starts at self; routes on which self is the recipient are ignored.
// clock drives the sequence numbers (see Sequencer); pass the device boot
// clock. A sending route not in the manifest, or an all-zero key, is
// ErrBadConfig.
func NewSealer(self tee.UUID, keys Keyring, clock NanoClock) (*Sealer, error) {
	if _, ok := tee.RoleOf(self); !ok {
		return nil, fmt.Errorf("%w: %s is not a TA of the manifest", ErrBadConfig, self)
	}
	s := &Sealer{self: self, aeads: make(map[tee.UUID]cipher.AEAD), seq: NewSequencer(clock), rand: rand.Reader}
	for r, k := range keys {
		if r.From != self {
			continue
		}
		if !tee.RouteAllowed(r.From, r.To) {
			return nil, fmt.Errorf("%w: route %s→%s is not in the manifest", ErrBadConfig, r.From, r.To)
		}
		if k.IsZero() {
			return nil, fmt.Errorf("%w: zero key for route %s", ErrBadConfig, r)
		}
		a, err := newAEAD(k)
		if err != nil {
			return nil, fmt.Errorf("%w: route %s: %v", ErrBadConfig, r, err)
		}
		s.aeads[r.To] = a
	}
	return s, nil
}

// Self returns the sending TA.
func (s *Sealer) Self() tee.UUID { return s.self }

func (s *Sealer) String() string {
	role, _ := tee.RoleOf(s.self)
	return fmt.Sprintf("envelope.Sealer(%s, %d routes)", role, len(s.aeads))
}

// Seal returns an envelope carrying payload of type typ from this TA to
// to. It refuses (ErrNoRoute) a recipient the manifest does not let this
// TA send to or that it holds no key for, (ErrBadType) a type the route
// does not carry, and (ErrPayloadTooLarge) more than MaxPayload bytes.
func (s *Sealer) Seal(to tee.UUID, typ MsgType, payload []byte) ([]byte, error) {
	route := tee.Route{From: s.self, To: to}
	aead, ok := s.aeads[to]
	if !ok || !tee.RouteAllowed(s.self, to) {
		return nil, fmt.Errorf("%w: %s→%s", ErrNoRoute, s.self, to)
	}
	if !TypeAllowed(route, typ) {
		return nil, fmt.Errorf("%w: %s on %s", ErrBadType, typ, route)
	}
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("%w: %d bytes, max %d", ErrPayloadTooLarge, len(payload), MaxPayload)
	}
	h := Header{Version: Version, From: s.self, To: to, Type: typ}
	if _, err := io.ReadFull(s.rand, h.Nonce[:]); err != nil {
		return nil, fmt.Errorf("envelope: nonce: %w", err)
	}
	seq, err := s.seq.Next()
	if err != nil {
		return nil, err
	}
	h.Seq = seq
	out := appendHeader(make([]byte, 0, Overhead+len(payload)), &h, len(payload))
	// The output is appended after the header, so the associated data
	// (out[:HeaderSize]) and the ciphertext never overlap.
	return aead.Seal(out, h.Nonce[:], payload, out[:HeaderSize]), nil
}
