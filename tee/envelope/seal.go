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

// routeAEADs checks that self is a TA of the manifest and returns an AEAD
// for each route of keys that end selects (end reports the route's other
// TA and whether the route is self's, as sender for a Sealer or recipient
// for an Opener), keyed by that other TA. A selected route the manifest
// does not allow, or an all-zero key, is ErrBadConfig.
func routeAEADs(self tee.UUID, keys Keyring, end func(tee.Route) (peer tee.UUID, mine bool)) (map[tee.UUID]cipher.AEAD, error) {
	if _, ok := tee.RoleOf(self); !ok {
		return nil, fmt.Errorf("%w: %s is not a TA of the manifest", ErrBadConfig, self)
	}
	aeads := make(map[tee.UUID]cipher.AEAD)
	for r, k := range keys {
		peer, mine := end(r)
		if !mine {
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
		aeads[peer] = a
	}
	return aeads, nil
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
	aeads, err := routeAEADs(self, keys, func(r tee.Route) (tee.UUID, bool) { return r.To, r.From == self })
	if err != nil {
		return nil, err
	}
	return &Sealer{self: self, aeads: aeads, seq: NewSequencer(clock), rand: rand.Reader}, nil
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
