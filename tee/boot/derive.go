package boot

import (
	"crypto/hkdf"
	"crypto/sha256"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/envelope"
)

// HKDF info labels (RFC 5869 §3.2 "info"). They are part of the key
// schedule: changing one changes every derived key of every device.
const (
	labelStorageKey  = "fpemu/tee/boot/v1 storage key\x00"
	labelEnvelopeKey = "fpemu/tee/boot/v1 envelope key\x00"
)

// DeriveStorageKey returns the storage key of TA ta:
//
//	HKDF-SHA256(IKM = fused key, salt = none, info = "fpemu/tee/boot/v1 storage key" ‖ 0x00 ‖ TA UUID, L = 32)
//
// It depends on nothing per boot, so a TA reopens its sealed store after
// every reboot; a different TA or device gets an unrelated key.
func DeriveStorageKey(fused FusedKey, ta tee.UUID) StorageKey {
	var k StorageKey
	out := hkdfKey(fused, nil, labelStorageKey+string(ta[:]), StorageKeySize)
	copy(k[:], out)
	clear(out)
	return k
}

// DeriveEnvelopeKey returns the pairwise SM4 key of route r in boot id:
//
//	HKDF-SHA256(IKM = fused key, salt = boot ID, info = "fpemu/tee/boot/v1 envelope key" ‖ 0x00 ‖ sender UUID ‖ recipient UUID, L = 16)
//
// The boot ID salt makes every boot's keys unrelated, so an envelope from
// an earlier boot fails authentication; the ordered pair makes a→b and b→a
// distinct keys.
func DeriveEnvelopeKey(fused FusedKey, id BootID, r tee.Route) envelope.Key {
	var k envelope.Key
	out := hkdfKey(fused, id[:], labelEnvelopeKey+string(r.From[:])+string(r.To[:]), envelope.KeySize)
	copy(k[:], out)
	clear(out)
	return k
}

func hkdfKey(fused FusedKey, salt []byte, info string, n int) []byte {
	out, err := hkdf.Key(sha256.New, fused[:], salt, info, n)
	if err != nil {
		// hkdf.Key fails only for n > 255*32 or FIPS-only key-length rules,
		// neither reachable with the fixed sizes above.
		panic("boot: hkdf: " + err.Error())
	}
	return out
}
