package payment

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/fpemu/fpemu/bio"
	"github.com/fpemu/fpemu/bio/payment/proof"
	"github.com/fpemu/fpemu/tee"
)

// keyRecord is the plaintext of a sealed pay_keys row: a key of the
// hierarchy with its certificate and its owner. Layout (version 2,
// big-endian):
//
//	u8 version 2 ‖ u8 kind ‖ u8 invalidated (0|1) ‖ owner[16]
//	‖ scalar[32] ‖ u16 len(cert) ‖ cert (proof signed object)
//	‖ u8 count ‖ u32 finger_id[count]   (scene keys: the bound list; else 0)
//	‖ u8 len(boot_id) ‖ boot_id ‖ u64 created_ms   (boot and boot clock of creation)
//
// owner is the client identity (rpc.ClientIdentity.UUID) that created the
// app key; a scene key carries its app key's owner; the device key's is
// nil. Version 1 (written before keys had owners) is the same without
// owner and is read with the nil owner: such an app id is unowned until
// an identity re-creates its app key (docs/protocol.md §8.5).
type keyRecord struct {
	kind        proof.Kind
	invalidated bool
	owner       tee.UUID
	scalar      [32]byte
	cert        []byte   // signed certificate
	fingers     []uint32 // scene keys: the bound finger ids
	bootID      []byte   // the boot the key was created in (1..64 bytes)
	createdMs   uint64   // boot clock at creation
}

// Record layout versions: 1 without owner (read only), 2 current.
const (
	recordVersionNoOwner = 1
	recordVersion        = 2
)

func (r *keyRecord) marshal() ([]byte, error) {
	if len(r.cert) == 0 || len(r.cert) > proof.MaxSignedSize {
		return nil, fmt.Errorf("%w: key record certificate of %d bytes", ErrCorruptRecord, len(r.cert))
	}
	if len(r.fingers) > bio.MaxFingers {
		return nil, fmt.Errorf("%w: key record with %d fingers", ErrCorruptRecord, len(r.fingers))
	}
	if len(r.bootID) == 0 || len(r.bootID) > maxBootID {
		return nil, fmt.Errorf("%w: key record boot id of %d bytes", ErrCorruptRecord, len(r.bootID))
	}
	b := make([]byte, 0, 3+16+32+2+len(r.cert)+1+4*len(r.fingers)+1+len(r.bootID)+8)
	var inv byte
	if r.invalidated {
		inv = 1
	}
	b = append(b, recordVersion, byte(r.kind), inv)
	b = append(b, r.owner[:]...)
	b = append(b, r.scalar[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.cert)))
	b = append(b, r.cert...)
	b = append(b, byte(len(r.fingers)))
	for _, f := range r.fingers {
		b = binary.BigEndian.AppendUint32(b, f)
	}
	b = append(b, byte(len(r.bootID)))
	b = append(b, r.bootID...)
	return binary.BigEndian.AppendUint64(b, r.createdMs), nil
}

// maxBootID bounds a boot id (Config.BootID).
const maxBootID = 64

// parseKeyRecord decodes a key record strictly; errors wrap
// ErrCorruptRecord. The certificate is only framed-checked here.
func parseKeyRecord(b []byte) (keyRecord, error) {
	bad := func(why string) (keyRecord, error) {
		return keyRecord{}, fmt.Errorf("%w: key record: %s", ErrCorruptRecord, why)
	}
	if len(b) < 3 {
		return bad("truncated")
	}
	r := keyRecord{kind: proof.Kind(b[1])}
	body := b[3:]
	switch b[0] {
	case recordVersionNoOwner:
	case recordVersion:
		if len(body) < 16 {
			return bad("truncated")
		}
		copy(r.owner[:], body)
		body = body[16:]
	default:
		return bad(fmt.Sprintf("version %d", b[0]))
	}
	if len(body) < 32+2 {
		return bad("truncated")
	}
	switch r.kind {
	case proof.KindDevice, proof.KindApp, proof.KindScene:
	default:
		return bad(fmt.Sprintf("kind %d", b[1]))
	}
	switch b[2] {
	case 0:
	case 1:
		r.invalidated = true
	default:
		return bad("invalidated flag")
	}
	copy(r.scalar[:], body[:32])
	n := int(binary.BigEndian.Uint16(body[32:34]))
	rest := body[34:]
	if n == 0 || n > proof.MaxSignedSize || len(rest) < n+1 {
		return bad("certificate length")
	}
	r.cert = slices.Clone(rest[:n])
	if _, err := proof.ParseSigned(r.cert); err != nil {
		return bad("certificate framing")
	}
	rest = rest[n:]
	count := int(rest[0])
	rest = rest[1:]
	if count > bio.MaxFingers || len(rest) < 4*count+1 {
		return bad("finger list length")
	}
	if count > 0 {
		r.fingers = make([]uint32, count)
		for i := range r.fingers {
			r.fingers[i] = binary.BigEndian.Uint32(rest[4*i:])
		}
	}
	rest = rest[4*count:]
	n = int(rest[0])
	rest = rest[1:]
	if n == 0 || n > maxBootID || len(rest) != n+8 {
		return bad("boot id or creation time")
	}
	r.bootID = slices.Clone(rest[:n])
	r.createdMs = binary.BigEndian.Uint64(rest[n:])
	if r.kind != proof.KindScene && (count != 0 || r.invalidated) {
		return bad("finger list or invalidation on a non-scene key")
	}
	if r.kind == proof.KindDevice && !r.owner.IsZero() {
		return bad("owner on the device key")
	}
	return r, nil
}
