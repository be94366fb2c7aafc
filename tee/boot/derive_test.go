package boot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
)

// rfc5869 is an independent HKDF-SHA256 (RFC 5869 §2.2–2.3) written
// straight from the RFC, to check DeriveX against something other than
// crypto/hkdf. Only the first output block is needed (L ≤ 32).
func rfc5869(ikm, salt []byte, info string, l int) []byte {
	if salt == nil {
		salt = make([]byte, sha256.Size)
	}
	ext := hmac.New(sha256.New, salt)
	ext.Write(ikm)
	prk := ext.Sum(nil)
	exp := hmac.New(sha256.New, prk)
	exp.Write([]byte(info))
	exp.Write([]byte{1})
	return exp.Sum(nil)[:l]
}

func TestDeriveMatchesRFC5869(t *testing.T) {
	fused := testFused()
	id := testBootID(0)
	for _, role := range tee.Roles {
		u, err := tee.UUIDOf(role)
		require.NoError(t, err)
		sk := DeriveStorageKey(fused, u)
		assert.Equal(t, rfc5869(fused[:], nil, "fpemu/tee/boot/v1 storage key\x00"+string(u[:]), 32), sk[:], role)
	}
	for _, r := range tee.Routes {
		ek := DeriveEnvelopeKey(fused, id, r)
		assert.Equal(t, rfc5869(fused[:], id[:], "fpemu/tee/boot/v1 envelope key\x00"+string(r.From[:])+string(r.To[:]), 16), ek[:], r.String())
	}
}

func TestDeriveSeparation(t *testing.T) {
	fused := testFused()
	other := testFused()
	other[0] ^= 1
	boot1, boot2 := testBootID(0), testBootID(1)

	seen := map[string]string{}
	note := func(what string, k []byte) {
		h := hex.EncodeToString(k)
		prev, dup := seen[h]
		assert.False(t, dup, "%s has the same key as %s", what, prev)
		seen[h] = what
	}
	for _, role := range tee.Roles {
		u, _ := tee.UUIDOf(role)
		s1 := DeriveStorageKey(fused, u)
		assert.Equal(t, s1, DeriveStorageKey(fused, u), "storage key is deterministic")
		note("storage "+string(role), s1[:])
		so := DeriveStorageKey(other, u)
		note("storage other device "+string(role), so[:])
	}
	for _, r := range tee.Routes {
		e1 := DeriveEnvelopeKey(fused, boot1, r)
		assert.Equal(t, e1, DeriveEnvelopeKey(fused, boot1, r), "envelope key is deterministic within a boot")
		note("envelope boot1 "+r.String(), e1[:])
		e2 := DeriveEnvelopeKey(fused, boot2, r)
		note("envelope boot2 "+r.String(), e2[:])
		eo := DeriveEnvelopeKey(other, boot1, r)
		note("envelope other device "+r.String(), eo[:])
		rev := DeriveEnvelopeKey(fused, boot1, tee.Route{From: r.To, To: r.From})
		note("envelope reversed "+r.String(), rev[:])
	}
}

// deriveVector pins the key schedule: any change to labels, salt or
// lengths breaks every existing device's sealed store.
type deriveVector struct {
	Comment     string            `json:"comment"`
	Fused       string            `json:"fused_key"`
	BootID      string            `json:"boot_id"`
	StorageKeys map[string]string `json:"storage_keys"`  // by role
	Envelope    map[string]string `json:"envelope_keys"` // by "from to to" role pair
}

func TestDeriveGolden(t *testing.T) {
	path := filepath.Join("testdata", "derive_v1.json")
	fused, id := testFused(), testBootID(0)
	got := deriveVector{
		Comment:     "HKDF-SHA256 key schedule of tee/boot v1",
		Fused:       hex.EncodeToString(fused[:]),
		BootID:      hex.EncodeToString(id[:]),
		StorageKeys: map[string]string{},
		Envelope:    map[string]string{},
	}
	for _, role := range tee.Roles {
		u, _ := tee.UUIDOf(role)
		k := DeriveStorageKey(fused, u)
		got.StorageKeys[string(role)] = hex.EncodeToString(k[:])
	}
	for _, r := range tee.Routes {
		f, _ := tee.RoleOf(r.From)
		to, _ := tee.RoleOf(r.To)
		k := DeriveEnvelopeKey(fused, id, r)
		got.Envelope[string(f)+" to "+string(to)] = hex.EncodeToString(k[:])
	}
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	}
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var want deriveVector
	require.NoError(t, json.Unmarshal(raw, &want))
	assert.Equal(t, want, got)
	assert.Len(t, want.StorageKeys, len(tee.Roles))
	assert.Len(t, want.Envelope, len(tee.Routes))
}
