package boot

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
)

// Record is what the launcher hands one TA process at boot.
type Record struct {
	// Role and UUID name the TA; they must agree (tee.UUIDOf).
	Role tee.Role
	UUID tee.UUID
	// BootID identifies this boot of the device.
	BootID BootID
	// ClockOriginNs is CLOCK_BOOTTIME, in nanoseconds, when the launcher
	// booted the device: the zero of the device boot clock (see Clock).
	ClockOriginNs uint64
	// StorageKey is the TA's storage key (DeriveStorageKey).
	StorageKey StorageKey
	// Keys holds the pairwise envelope keys of exactly the manifest routes
	// the TA is an endpoint of (DeriveEnvelopeKey), and no others.
	Keys envelope.Keyring
	// Anchors are the payment TA's trust anchors for the trusted channel
	// (docs/protocol.md §5.3, §8.11): opaque here, at most MaxAnchors
	// bytes, only in the payment TA's record. A record with anchors is
	// version 2; without, version 1 as before. They are not secret, but
	// only the launcher can hand them over, so the REE cannot swap them.
	Anchors []byte
}

// Record wire format, version 1 (integers big-endian):
//
//	offset size    field
//	0      4       magic "FPPR"
//	4      1       version (1)
//	5      16      TA UUID
//	21     16      boot ID
//	37     8       boot clock origin, CLOCK_BOOTTIME nanoseconds
//	45     32      storage key
//	77     1       route count n
//	78     48·n    routes, in tee.Routes order: sender UUID ‖ recipient UUID ‖ SM4 key
//
// Version 2 (payment TA only) appends u16 len ‖ anchors (1..MaxAnchors).
const (
	recordMagic   = "FPPR"
	RecordVersion = 1
	// RecordVersionAnchors is the version of a record carrying Anchors.
	RecordVersionAnchors = 2
	// MaxAnchors bounds Record.Anchors.
	MaxAnchors      = 16 * 1024
	recordFixedSize = 4 + 1 + 16 + BootIDSize + 8 + StorageKeySize + 1
	recordRouteSize = 16 + 16 + envelope.KeySize
	// MaxRecordSize bounds a record: every manifest route at most.
	MaxRecordSize = recordFixedSize + 255*recordRouteSize + 2 + MaxAnchors
)

// routesOf returns the manifest routes u is an endpoint of, in manifest
// order: the exact route list of u's record.
func routesOf(u tee.UUID) []tee.Route {
	var out []tee.Route
	for _, r := range tee.Routes {
		if r.From == u || r.To == u {
			out = append(out, r)
		}
	}
	return out
}

// check validates everything Marshal and Parse both require.
func (r *Record) check() error {
	u, err := tee.UUIDOf(r.Role)
	if err != nil {
		return fmt.Errorf("%w: role %q is not in the manifest", ErrMalformedRecord, r.Role)
	}
	if u != r.UUID {
		return fmt.Errorf("%w: UUID %s is not that of %s", ErrMalformedRecord, r.UUID, r.Role)
	}
	if r.StorageKey == (StorageKey{}) {
		return fmt.Errorf("%w: zero storage key", ErrMalformedRecord)
	}
	want := routesOf(r.UUID)
	if len(r.Keys) != len(want) {
		return fmt.Errorf("%w: %d routes for %s, want %d", ErrMalformedRecord, len(r.Keys), r.Role, len(want))
	}
	for _, rt := range want {
		k, ok := r.Keys[rt]
		if !ok {
			return fmt.Errorf("%w: no key for route %s", ErrMalformedRecord, rt)
		}
		if k.IsZero() {
			return fmt.Errorf("%w: zero key for route %s", ErrMalformedRecord, rt)
		}
	}
	if len(r.Anchors) > MaxAnchors {
		return fmt.Errorf("%w: %d bytes of trust anchors, max %d", ErrMalformedRecord, len(r.Anchors), MaxAnchors)
	}
	if len(r.Anchors) > 0 && r.Role != tee.RolePayment {
		return fmt.Errorf("%w: trust anchors in the record of %s (only the payment TA takes them)", ErrMalformedRecord, r.Role)
	}
	return nil
}

// Marshal encodes r. It refuses (ErrMalformedRecord) a record that Parse
// would refuse: unknown role, UUID not the role's, zero storage or route
// key, or a key set other than exactly the role's manifest routes.
func (r Record) Marshal() ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	routes := routesOf(r.UUID)
	b := make([]byte, 0, recordFixedSize+len(routes)*recordRouteSize)
	b = append(b, recordMagic...)
	if len(r.Anchors) > 0 {
		b = append(b, RecordVersionAnchors)
	} else {
		b = append(b, RecordVersion)
	}
	b = append(b, r.UUID[:]...)
	b = append(b, r.BootID[:]...)
	b = binary.BigEndian.AppendUint64(b, r.ClockOriginNs)
	b = append(b, r.StorageKey[:]...)
	b = append(b, byte(len(routes)))
	for _, rt := range routes {
		k := r.Keys[rt]
		b = append(b, rt.From[:]...)
		b = append(b, rt.To[:]...)
		b = append(b, k[:]...)
	}
	if len(r.Anchors) > 0 {
		b = binary.BigEndian.AppendUint16(b, uint16(len(r.Anchors)))
		b = append(b, r.Anchors...)
	}
	return b, nil
}

// Parse decodes a record strictly: magic, version, a known TA, a route
// list equal to that TA's manifest routes in manifest order, non-zero
// keys, and exactly the encoded length (no trailing bytes). On error it
// returns the zero Record and an error wrapping ErrMalformedRecord (or
// ErrRecordTooLarge); error strings never include key bytes. Parse does
// not retain b; the caller should clear b afterwards.
func Parse(b []byte) (Record, error) {
	if len(b) > MaxRecordSize {
		return Record{}, fmt.Errorf("%w: %d bytes", ErrRecordTooLarge, len(b))
	}
	if len(b) < recordFixedSize {
		return Record{}, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrMalformedRecord, len(b), recordFixedSize)
	}
	if string(b[0:4]) != recordMagic {
		return Record{}, fmt.Errorf("%w: bad magic", ErrMalformedRecord)
	}
	version := b[4]
	if version != RecordVersion && version != RecordVersionAnchors {
		return Record{}, fmt.Errorf("%w: version %d, want %d or %d", ErrMalformedRecord, version, RecordVersion, RecordVersionAnchors)
	}
	var r Record
	copy(r.UUID[:], b[5:21])
	role, ok := tee.RoleOf(r.UUID)
	if !ok {
		return Record{}, fmt.Errorf("%w: %s is not a TA of the manifest", ErrMalformedRecord, r.UUID)
	}
	r.Role = role
	copy(r.BootID[:], b[21:37])
	r.ClockOriginNs = binary.BigEndian.Uint64(b[37:45])
	copy(r.StorageKey[:], b[45:77])
	n := int(b[77])
	routes := routesOf(r.UUID)
	if n != len(routes) {
		r.Wipe()
		return Record{}, fmt.Errorf("%w: %d routes for %s, want %d", ErrMalformedRecord, n, role, len(routes))
	}
	want := recordFixedSize + n*recordRouteSize
	if version == RecordVersionAnchors {
		if len(b) < want+2 {
			r.Wipe()
			return Record{}, fmt.Errorf("%w: %d bytes, no trust anchor length", ErrMalformedRecord, len(b))
		}
		a := int(binary.BigEndian.Uint16(b[want:]))
		if a == 0 {
			r.Wipe()
			return Record{}, fmt.Errorf("%w: version 2 with no trust anchors", ErrMalformedRecord)
		}
		r.Anchors = bytes.Clone(b[want+2 : min(len(b), want+2+a)])
		want += 2 + a
	}
	if len(b) != want {
		r.Wipe()
		return Record{}, fmt.Errorf("%w: %d bytes, want %d", ErrMalformedRecord, len(b), want)
	}
	r.Keys = make(envelope.Keyring, n)
	for i, want := range routes {
		e := b[recordFixedSize+i*recordRouteSize:][:recordRouteSize]
		var got tee.Route
		copy(got.From[:], e[0:16])
		copy(got.To[:], e[16:32])
		if got != want {
			r.Wipe()
			return Record{}, fmt.Errorf("%w: route %d is %s→%s, want %s", ErrMalformedRecord, i, got.From, got.To, want)
		}
		var k envelope.Key
		copy(k[:], e[32:48])
		r.Keys[got] = k
	}
	if err := r.check(); err != nil {
		r.Wipe()
		return Record{}, err
	}
	return r, nil
}

// Wipe zeroes the keys r holds (best effort: copies made earlier are not
// reached).
func (r *Record) Wipe() {
	clear(r.StorageKey[:])
	for rt := range r.Keys {
		r.Keys[rt] = envelope.Key{}
	}
	clear(r.Keys)
	r.Anchors = nil
}

// Clock returns the device boot clock of the boot r belongs to.
func (r *Record) Clock() *Clock { return NewClock(r.ClockOriginNs) }

// String describes r without its keys.
func (r Record) String() string {
	return fmt.Sprintf("boot.Record{Role: %s, UUID: %s, BootID: %s, ClockOriginNs: %d, StorageKey: %s, Keys: [%d redacted]}",
		r.Role, r.UUID, r.BootID, r.ClockOriginNs, redacted, len(r.Keys))
}

// GoString is String, so %#v cannot print key bytes.
func (r Record) GoString() string { return r.String() }

// Format prints String for every verb.
func (r Record) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(r.String())) }
