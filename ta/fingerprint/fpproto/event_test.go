package fpproto

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tokens"
)

func eventParams(e Event, queued uint32) tee.Params {
	p := tee.Params{tee.ValueInout(0, 0), tee.ValueOut(), tee.ValueOut(), tee.MemrefOut(hatSize)}
	PutEvent(&p, e, queued)
	return p
}

// TestEventRoundTrip: every event the TA emits decodes to itself, with
// the AOSP numbers in the documented parameters.
func TestEventRoundTrip(t *testing.T) {
	hat := make([]byte, tokens.Size)
	hat[0] = 0
	tests := []struct {
		e          Event
		p0a        uint32
		p1, p2     [2]uint32
		hatPresent bool
	}{
		{Event{Type: MsgNone}, 0, [2]uint32{}, [2]uint32{}, false},
		{ErrorEvent(ErrorVendor, -7, 3), 0xFFFFFFFF, [2]uint32{8, 0xFFFFFFF9}, [2]uint32{0, 3}, false},
		{ErrorEvent(ErrorLockout, 0, 30_000), 0xFFFFFFFF, [2]uint32{7, 0}, [2]uint32{0, 30_000}, false},
		{AcquiredEvent(AcquiredVendor, 1001), 1, [2]uint32{6, 1001}, [2]uint32{}, false},
		{FingerEvent(MsgTemplateEnrolling, 5, 6, 7), 3, [2]uint32{5, 6}, [2]uint32{7, 0}, false},
		{FingerEvent(MsgTemplateRemoved, 5, 6, 0), 4, [2]uint32{5, 6}, [2]uint32{}, false},
		{FingerEvent(MsgTemplateEnumerating, 0, 99, 0), 6, [2]uint32{0, 99}, [2]uint32{}, false},
		{FingerEvent(MsgAuthenticated, 0, 99, 0), 5, [2]uint32{0, 99}, [2]uint32{}, false},
		{Event{Type: MsgAuthenticated, FingerID: 3, GroupID: 4, HAT: hat}, 5, [2]uint32{3, 4}, [2]uint32{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.e.String(), func(t *testing.T) {
			p := eventParams(tc.e, 2)
			assert.Equal(t, tc.p0a, p[0].A)
			assert.Equal(t, uint32(2), p[0].B)
			assert.Equal(t, tc.p1, [2]uint32{p[1].A, p[1].B})
			assert.Equal(t, tc.p2, [2]uint32{p[2].A, p[2].B})
			assert.Equal(t, tc.hatPresent, len(p[3].Data) > 0)
			got, err := DecodeEvent(&p)
			require.NoError(t, err)
			assert.Equal(t, tc.e, got)
		})
	}
}

// TestDecodeEventRejects: outputs no TA may send are refused, never
// half-decoded.
func TestDecodeEventRejects(t *testing.T) {
	hat := make([]byte, tokens.Size)
	tests := []struct {
		name string
		mut  func(p *tee.Params)
	}{
		{"unknown type", func(p *tee.Params) { p[0].A = 2 }},
		{"HAT on an error", func(p *tee.Params) { p[0].A = 0xFFFFFFFF; p[3].Data = hat }},
		{"match without HAT", func(p *tee.Params) { p[0].A = 5; p[1].A = 1 }},
		{"match with short HAT", func(p *tee.Params) { p[0].A = 5; p[1].A = 1; p[3].Data = hat[:68] }},
		{"rejection with HAT", func(p *tee.Params) { p[0].A = 5; p[3].Data = hat }},
		{"detail on progress", func(p *tee.Params) { p[0].A = 3; p[2].B = 1 }},
		{"remaining on acquired", func(p *tee.Params) { p[0].A = 1; p[2].A = 1 }},
		{"remaining on error", func(p *tee.Params) { p[0].A = 0xFFFFFFFF; p[2].A = 1 }},
		{"fields on NONE", func(p *tee.Params) { p[1].B = 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := eventParams(Event{Type: MsgNone}, 0)
			tc.mut(&p)
			e, err := DecodeEvent(&p)
			assert.ErrorIs(t, err, ErrEvent)
			assert.Equal(t, Event{}, e)
		})
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add(uint32(5), uint32(3), uint32(4), uint32(0), uint32(0), make([]byte, tokens.Size))
	f.Add(uint32(0xFFFFFFFF), uint32(7), uint32(0), uint32(0), uint32(30000), []byte(nil))
	f.Add(uint32(3), uint32(1), uint32(2), uint32(3), uint32(0), []byte(nil))
	f.Add(uint32(0), uint32(0), uint32(0), uint32(0), uint32(0), []byte{1})
	f.Fuzz(func(t *testing.T, typ, a, b, rem, detail uint32, hat []byte) {
		p := tee.Params{tee.ValueInout(typ, 0), {Type: tee.ParamValueOutput, A: a, B: b},
			{Type: tee.ParamValueOutput, A: rem, B: detail}, {Type: tee.ParamMemrefOutput, Data: hat, Size: uint32(len(hat))}}
		e, err := DecodeEvent(&p)
		if err != nil {
			require.Equal(t, Event{}, e)
			return
		}
		// Whatever decodes re-encodes to the same outputs.
		q := eventParams(e, 0)
		require.Equal(t, [4]uint32{p[0].A, p[1].A, p[1].B, p[2].A}, [4]uint32{q[0].A, q[1].A, q[1].B, q[2].A})
		require.Equal(t, p[2].B, q[2].B)
		require.Equal(t, len(hat) > 0, len(q[3].Data) > 0)
	})
}
