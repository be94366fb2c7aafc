package gatekeeper

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/ta/gatekeeper/gkproto"
)

// golden reads testdata/handle_golden.txt: "name hex" lines.
func golden(t testing.TB) map[string]string {
	t.Helper()
	f, err := os.Open("testdata/handle_golden.txt")
	require.NoError(t, err)
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, " ")
		require.True(t, ok, line)
		m[k] = v
	}
	require.NoError(t, sc.Err())
	return m
}

func hexU64(t testing.TB, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 64)
	require.NoError(t, err)
	return v
}

func TestHandleGoldenVector(t *testing.T) {
	g := golden(t)
	key, err := DerivePasswordKey(testkit.Unhex(t, g["storage_key"]))
	require.NoError(t, err)
	assert.Equal(t, g["password_key"], hex.EncodeToString(key))

	h := gkproto.PasswordHandle{
		Version:        gkproto.HandleVersion,
		UserID:         hexU64(t, g["user_id"]),
		Flags:          hexU64(t, g["flags"]),
		Salt:           hexU64(t, g["salt"]),
		HardwareBacked: true,
	}
	pw := testkit.Unhex(t, g["password"])
	h.Signature = ComputePasswordSignature(key, &h, pw)
	assert.Equal(t, g["signature"], hex.EncodeToString(h.Signature[:]))
	assert.Equal(t, g["handle"], hex.EncodeToString(h.Marshal()))

	parsed, err := gkproto.ParseHandle(testkit.Unhex(t, g["handle"]))
	require.NoError(t, err)
	assert.Equal(t, h, parsed)
	assert.True(t, CheckPassword(key, &parsed, pw))
	// Binary password: a NUL-truncated or NUL-padded variant must not verify.
	assert.False(t, CheckPassword(key, &parsed, pw[:3]))
	assert.False(t, CheckPassword(key, &parsed, append(append([]byte{}, pw...), 0)))
}

func TestHandleLayout(t *testing.T) {
	h := gkproto.PasswordHandle{Version: 2, UserID: 0x1122334455667788, Flags: 1, Salt: 0xa1a2a3a4a5a6a7a8, HardwareBacked: true}
	for i := range h.Signature {
		h.Signature[i] = byte(0xc0 + i)
	}
	b := h.Marshal()
	require.Len(t, b, gkproto.HandleSize)
	assert.Equal(t, byte(2), b[0])
	assert.Equal(t, []byte{0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, b[1:9], "user_id little-endian at 1")
	assert.Equal(t, []byte{1, 0, 0, 0, 0, 0, 0, 0}, b[9:17], "flags little-endian at 9")
	assert.Equal(t, []byte{0xa8, 0xa7, 0xa6, 0xa5, 0xa4, 0xa3, 0xa2, 0xa1}, b[17:25], "salt little-endian at 17")
	assert.Equal(t, h.Signature[:], b[25:57])
	assert.Equal(t, byte(1), b[57])
	assert.Equal(t, b[:17], h.MarshalSigned())
}

func TestParseHandleErrors(t *testing.T) {
	valid := (&gkproto.PasswordHandle{Version: 2, UserID: 7, Flags: 1, Salt: 9}).Marshal()
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), valid...)) }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"nil", nil, gkproto.ErrHandleLength},
		{"short", valid[:57], gkproto.ErrHandleLength},
		{"long", append(append([]byte(nil), valid...), 0), gkproto.ErrHandleLength},
		{"version 0", mod(func(b []byte) []byte { b[0] = 0; return b }), gkproto.ErrHandleVersion},
		{"version 1", mod(func(b []byte) []byte { b[0] = 1; return b }), gkproto.ErrHandleVersion},
		{"version 3", mod(func(b []byte) []byte { b[0] = 3; return b }), gkproto.ErrHandleVersion},
		{"flag 2", mod(func(b []byte) []byte { b[9] = 3; return b }), gkproto.ErrHandleFlags},
		{"high flag", mod(func(b []byte) []byte { b[16] = 0x80; return b }), gkproto.ErrHandleFlags},
		{"bool 2", mod(func(b []byte) []byte { b[57] = 2; return b }), gkproto.ErrHandleBool},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := gkproto.ParseHandle(tc.in)
			require.ErrorIs(t, err, tc.want)
			assert.Zero(t, h, "no partial result")
		})
	}
	h, err := gkproto.ParseHandle(valid)
	require.NoError(t, err)
	assert.Equal(t, uint64(7), h.UserID)
	assert.False(t, h.HardwareBacked)
}

func TestSignatureCoversMetadata(t *testing.T) {
	key, err := DerivePasswordKey(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	pw := []byte("correcthorsebatterystaple")
	h := gkproto.PasswordHandle{Version: 2, UserID: 42, Flags: 1, Salt: 99}
	h.Signature = ComputePasswordSignature(key, &h, pw)
	require.True(t, CheckPassword(key, &h, pw))
	for name, f := range map[string]func(*gkproto.PasswordHandle){
		"user_id": func(h *gkproto.PasswordHandle) { h.UserID++ },
		"flags":   func(h *gkproto.PasswordHandle) { h.Flags ^= 1 },
		"salt":    func(h *gkproto.PasswordHandle) { h.Salt++ },
		"version": func(h *gkproto.PasswordHandle) { h.Version = 1 },
		"sig":     func(h *gkproto.PasswordHandle) { h.Signature[31] ^= 1 },
	} {
		c := h
		f(&c)
		assert.False(t, CheckPassword(key, &c, pw), name)
	}
	other, err := DerivePasswordKey(bytes.Repeat([]byte{8}, 32))
	require.NoError(t, err)
	assert.False(t, CheckPassword(other, &h, pw), "another device's key")
}

func TestDerivePasswordKeyRejectsShortKey(t *testing.T) {
	_, err := DerivePasswordKey(make([]byte, 15))
	require.ErrorIs(t, err, ErrStorageKey)
	_, err = DerivePasswordKey(nil)
	require.ErrorIs(t, err, ErrStorageKey)
}

func FuzzParseHandle(f *testing.F) {
	f.Add((&gkproto.PasswordHandle{Version: 2, UserID: 1, Flags: 1, Salt: 2, HardwareBacked: true}).Marshal())
	f.Add(make([]byte, gkproto.HandleSize))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, gkproto.HandleSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := gkproto.ParseHandle(b)
		if err != nil {
			if h != (gkproto.PasswordHandle{}) {
				t.Fatalf("partial result %+v with error %v", h, err)
			}
			return
		}
		if !bytes.Equal(h.Marshal(), b) {
			t.Fatalf("round trip: %x != %x", h.Marshal(), b)
		}
	})
}
