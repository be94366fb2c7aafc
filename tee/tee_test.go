package tee

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseUUID(t *testing.T) {
	tests := []struct {
		in      string
		want    UUID
		wantErr bool
	}{
		{in: "784c5e57-59a1-4dde-85a0-538c9d06415a", want: UUID{0x78, 0x4c, 0x5e, 0x57, 0x59, 0xa1, 0x4d, 0xde, 0x85, 0xa0, 0x53, 0x8c, 0x9d, 0x06, 0x41, 0x5a}},
		{in: "784C5E57-59A1-4DDE-85A0-538C9D06415A", want: UUID{0x78, 0x4c, 0x5e, 0x57, 0x59, 0xa1, 0x4d, 0xde, 0x85, 0xa0, 0x53, 0x8c, 0x9d, 0x06, 0x41, 0x5a}},
		{in: "00000000-0000-0000-0000-000000000000", want: UUID{}},
		{in: "", wantErr: true},
		{in: "784c5e5759a14dde85a0538c9d06415a", wantErr: true},                    // no dashes
		{in: "784c5e57-59a1-4dde-85a0-538c9d06415", wantErr: true},                 // short
		{in: "784c5e57-59a1-4dde-85a0-538c9d06415a0", wantErr: true},               // long
		{in: "784c5e57_59a1-4dde-85a0-538c9d06415a", wantErr: true},                // wrong separator
		{in: "784c5e57-59a1-4dde-85a0-538c9d06415g", wantErr: true},                // non-hex
		{in: "{784c5e57-59a1-4dde-85a0-538c9d06415a}", wantErr: true},              // braces
		{in: "784c5e5-759a1-4dde-85a0-538c9d06415a", wantErr: true},                // dash moved
		{in: "784c5e57-59a1-4dde-85a0-538c9d06415\x00", wantErr: true},             // NUL
		{in: "784c5e57-59a1-4dde-85a0-538c9d0641+a", wantErr: true},                // sign
		{in: "784c5e57-59a1-4dde-85a0-538c9d06 15a", wantErr: true},                // space
		{in: "urn:uuid:784c5e57-59a1-4dde-85a0-538c9d06415a"[:36], wantErr: true},  // prefix
		{in: "784c5e57-59a1-4dde-85a0-538c9d06415a"[:35] + "é"[:1], wantErr: true}, // high byte
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			got, err := ParseUUID(tc.in)
			if tc.wantErr {
				require.ErrorIs(t, err, ErrBadUUID)
				assert.Equal(t, UUID{}, got, "no partial result")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestUUIDStringRoundTrip(t *testing.T) {
	for _, r := range Roles {
		u, err := UUIDOf(r)
		require.NoError(t, err)
		back, err := ParseUUID(u.String())
		require.NoError(t, err)
		assert.Equal(t, u, back)
		role, ok := RoleOf(u)
		require.True(t, ok)
		assert.Equal(t, r, role)
	}
	assert.True(t, UUID{}.IsZero())
	assert.False(t, UUIDKeymaster.IsZero())
	_, err := UUIDOf("nonsense")
	require.Error(t, err)
	_, ok := RoleOf(UUID{1})
	assert.False(t, ok)
}

func TestMustParseUUIDPanicsOnBadLiteral(t *testing.T) {
	assert.Panics(t, func() { MustParseUUID("not-a-uuid") })
}

func FuzzParseUUID(f *testing.F) {
	f.Add("784c5e57-59a1-4dde-85a0-538c9d06415a")
	f.Add("00000000-0000-0000-0000-000000000000")
	f.Add("784c5e57-59a1-4dde-85a0-538c9d06415")
	f.Add("zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUUID(s)
		if err != nil {
			if u != (UUID{}) {
				t.Fatalf("partial result %v with error %v", u, err)
			}
			if !errors.Is(err, ErrBadUUID) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// A valid parse re-encodes to the lower-case input.
		back, err := ParseUUID(u.String())
		if err != nil || back != u {
			t.Fatalf("round trip of %q failed: %v %v", s, back, err)
		}
	})
}

func TestErrorIsMatchesCodeOnly(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", Errorf(ResultShortBuffer, OriginTrustedApp, "need %d", 128))
	assert.ErrorIs(t, err, ErrShortBuffer)
	assert.NotErrorIs(t, err, ErrBadFormat)
	assert.Equal(t, ResultShortBuffer, ResultOf(err))
	assert.Equal(t, Success, ResultOf(nil))
	assert.Equal(t, ResultGeneric, ResultOf(errors.New("plain")))
	assert.Contains(t, err.Error(), "TEEC_ERROR_SHORT_BUFFER (TEEC_ORIGIN_TRUSTED_APP): need 128")
	assert.Equal(t, "TEEC_ERROR_TARGET_DEAD", ResultTargetDead.String())
	assert.Equal(t, "0x00000042", Result(0x42).String())
	assert.Equal(t, "TEEC_ORIGIN_COMMS", OriginComms.String())
	assert.Equal(t, "origin(9)", Origin(9).String())
	assert.Equal(t, "TEEC_ERROR_BAD_FORMAT (TEEC_ORIGIN_TEE)", (&Error{Code: ResultBadFormat, Origin: OriginTEE}).Error())
}

func TestParamTypes(t *testing.T) {
	tests := []struct {
		t                                   ParamType
		valid, value, memref, input, output bool
	}{
		{ParamNone, true, false, false, false, false},
		{ParamValueInput, true, true, false, true, false},
		{ParamValueOutput, true, true, false, false, true},
		{ParamValueInout, true, true, false, true, true},
		{ParamMemrefInput, true, false, true, true, false},
		{ParamMemrefOutput, true, false, true, false, true},
		{ParamMemrefInout, true, false, true, true, true},
		{ParamType(0x4), false, false, false, false, false},
		{ParamType(0xC), false, false, false, false, false}, // TEEC_MEMREF_WHOLE
	}
	for _, tc := range tests {
		t.Run(tc.t.String(), func(t *testing.T) {
			assert.Equal(t, tc.valid, tc.t.Valid())
			assert.Equal(t, tc.value, tc.t.IsValue())
			assert.Equal(t, tc.memref, tc.t.IsMemref())
			assert.Equal(t, tc.input, tc.t.IsInput())
			assert.Equal(t, tc.output, tc.t.IsOutput())
		})
	}
}

func TestParamsExpect(t *testing.T) {
	p := Params{Value(1, 2), MemrefIn([]byte("abc")), MemrefOut(16)}
	require.NoError(t, p.Expect(ParamValueInput, ParamMemrefInput, ParamMemrefOutput))
	require.NoError(t, p.Expect(ParamValueInput, ParamMemrefInput, ParamMemrefOutput, ParamNone))
	err := p.Expect(ParamValueInput, ParamMemrefInput)
	require.ErrorIs(t, err, ErrBadParameters)
	require.ErrorIs(t, p.Expect(ParamNone, ParamNone, ParamNone, ParamNone, ParamNone), ErrBadParameters)

	assert.Equal(t, uint32(3), p[1].Size)
	assert.Equal(t, uint32(16), p[2].Size)
	io := MemrefInout([]byte("abcd"), 2)
	assert.Equal(t, uint32(4), io.Size, "capacity never below the data")
	p.SetOutput(2, []byte("out"))
	p.SetValue(0, 7, 8)
	assert.Equal(t, []byte("out"), p[2].Data)
	assert.Equal(t, uint32(7), p[0].A)
	assert.Equal(t, uint32(8), p[0].B)
}

// TestParamsNeedCapacity: an output memref with room enough passes
// untouched; a smaller one is SHORT_BUFFER from the TA with Size raised to
// what the command needs.
func TestParamsNeedCapacity(t *testing.T) {
	p := Params{MemrefOut(69), MemrefOut(68)}
	require.NoError(t, p.NeedCapacity(0, 69, "HAT"))
	assert.Equal(t, uint32(69), p[0].Size)

	err := p.NeedCapacity(1, 69, "HAT")
	require.ErrorIs(t, err, ErrShortBuffer)
	var te *Error
	require.ErrorAs(t, err, &te)
	assert.Equal(t, OriginTrustedApp, te.Origin)
	assert.Contains(t, err.Error(), "HAT needs 69 bytes")
	assert.Equal(t, uint32(69), p[1].Size, "Size tells the CA what to offer")
}

func TestManifestRoutes(t *testing.T) {
	assert.True(t, RouteAllowed(UUIDKeymaster, UUIDGatekeeper))
	assert.True(t, RouteAllowed(UUIDFingerprint, UUIDPayment))
	assert.False(t, RouteAllowed(UUIDGatekeeper, UUIDKeymaster), "routes are directed")
	assert.False(t, RouteAllowed(UUIDPayment, UUIDFingerprint))
	assert.False(t, RouteAllowed(UUIDFingerprint, UUIDGatekeeper))
	assert.Equal(t, "keymaster→fingerprint", Route{From: UUIDKeymaster, To: UUIDFingerprint}.String())
}

func TestFakeClock(t *testing.T) {
	c := NewFakeClock(100)
	assert.Equal(t, uint64(100), c.NowMs())
	c.Advance(1500 * time.Millisecond)
	assert.Equal(t, uint64(1600), c.NowMs())
	c.Set(5)
	assert.Equal(t, uint64(5), c.NowMs())
}
