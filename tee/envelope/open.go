package envelope

import (
	"crypto/cipher"
	"errors"
	"fmt"

	"github.com/fpemu/fpemu/tee"
)

// Message is an opened, authenticated envelope.
type Message struct {
	From    tee.UUID // the sending TA (authenticated)
	Type    MsgType
	Seq     uint64
	Payload []byte // may be secret: String and Format never print it
}

// String prints the metadata and the payload length, never the payload.
func (m Message) String() string {
	role, _ := tee.RoleOf(m.From)
	return fmt.Sprintf("envelope.Message{From: %s, Type: %s, Seq: %d, Payload: [redacted %d bytes]}",
		role, m.Type, m.Seq, len(m.Payload))
}

// Format prints String for every verb, so %x or %d cannot leak the payload.
func (m Message) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(m.String())) }

// Opener opens envelopes addressed to one TA. It is safe for concurrent
// use as long as its ReplayGuard is.
type Opener struct {
	self  tee.UUID
	aeads map[tee.UUID]cipher.AEAD // by sender
	guard ReplayGuard
}

// NewOpener returns an Opener for TA self holding the keys of keys whose
// route ends at self; routes on which self is the sender are ignored. A
// receiving route not in the manifest, an all-zero key or a nil guard is
// ErrBadConfig.
func NewOpener(self tee.UUID, keys Keyring, guard ReplayGuard) (*Opener, error) {
	aeads, err := routeAEADs(self, keys, func(r tee.Route) (tee.UUID, bool) { return r.From, r.To == self })
	if err != nil {
		return nil, err
	}
	if guard == nil {
		return nil, fmt.Errorf("%w: nil replay guard", ErrBadConfig)
	}
	return &Opener{self: self, aeads: aeads, guard: guard}, nil
}

// Self returns the receiving TA.
func (o *Opener) Self() tee.UUID { return o.self }

func (o *Opener) String() string {
	role, _ := tee.RoleOf(o.self)
	return fmt.Sprintf("envelope.Opener(%s, %d routes)", role, len(o.aeads))
}

// Open parses, authenticates and replay-checks b. The checks run cheapest
// first, and nothing from the envelope is returned unless all pass:
//
//  1. structure (Parse): ErrMalformed;
//  2. recipient is this TA: ErrWrongRecipient;
//  3. the manifest routes sender → this TA and a key is held: ErrUnknownSender;
//  4. the type is carried on that route (TypeAllowed): ErrBadType;
//  5. SM4-GCM over the canonical header as associated data: ErrAuth;
//  6. the sequence number is above the route's mark: ErrReplay.
//
// The replay mark advances only in step 6, after authentication, so a
// forged or failed envelope never moves it and ErrReplay always means
// "authentic but already superseded".
func (o *Opener) Open(b []byte) (Message, error) { return o.OpenIf(b, nil) }

// OpenIf is Open with check, if not nil, run on the clear header between
// steps 1 and 2: a check error is returned as it is, before any
// cryptography or replay mark is touched. It lets a recipient refuse an
// envelope on its clear header (a route it does not take on this command)
// without parsing b a second time.
func (o *Opener) OpenIf(b []byte, check func(Header) error) (Message, error) {
	env, err := parse(b) // env.Sealed aliases b; aead.Open below copies
	if err != nil {
		return Message{}, err
	}
	if check != nil {
		if err := check(env.Header); err != nil {
			return Message{}, err
		}
	}
	if env.To != o.self {
		return Message{}, fmt.Errorf("%w: addressed to %s, this TA is %s", ErrWrongRecipient, env.To, o.self)
	}
	route := env.Route()
	aead, ok := o.aeads[env.From]
	if !ok || !tee.RouteAllowed(env.From, env.To) {
		return Message{}, fmt.Errorf("%w: no route from %s to %s", ErrUnknownSender, env.From, env.To)
	}
	if !TypeAllowed(route, env.Type) {
		return Message{}, fmt.Errorf("%w: %s on %s", ErrBadType, env.Type, route)
	}
	ad, err := env.AssociatedData()
	if err != nil {
		return Message{}, err // unreachable: Parse validated the header
	}
	payload, err := aead.Open(nil, env.Nonce[:], env.Sealed, ad)
	if err != nil {
		return Message{}, fmt.Errorf("%w: %s sequence %d", ErrAuth, route, env.Seq)
	}
	if err := o.guard.Accept(route, env.Seq); err != nil {
		if errors.Is(err, ErrReplay) {
			return Message{}, err
		}
		return Message{}, fmt.Errorf("envelope: replay guard: %w", err)
	}
	return Message{From: env.From, Type: env.Type, Seq: env.Seq, Payload: payload}, nil
}
