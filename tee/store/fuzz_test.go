package store

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzUnseal feeds arbitrary table labels, identities and blobs to Unseal
// (and so to the sealed-blob parser). It must never panic, never return a
// partial plaintext, and only return typed errors; a blob that opens must
// be the one sealed for exactly that (table, identity).
func FuzzUnseal(f *testing.F) {
	s, err := NewSealer(testKey())
	require.NoError(f, err)
	id := Identity(Str("group"), U32(1), Str("finger"), U32(2))
	good, err := s.Seal("templates", id, []byte("template"))
	require.NoError(f, err)
	empty, err := s.Seal("t", Identity(Str("x")), nil)
	require.NoError(f, err)

	f.Add("templates", id, good)
	f.Add("templates", id, good[:Overhead])
	f.Add("templates", Identity(Str("group"), U32(2), Str("finger"), U32(1)), good)
	f.Add("t", Identity(Str("x")), empty)
	f.Add("t", []byte{}, empty)
	f.Add("", id, good)
	f.Add("templates", id, []byte{})
	f.Add("templates", id, []byte{0x02})
	f.Add("templates", id, append([]byte{0x01}, make([]byte, Overhead)...))

	f.Fuzz(func(t *testing.T, table string, identity, blob []byte) {
		pt, err := s.Unseal(table, identity, blob)
		if err != nil {
			require.Nil(t, pt)
			require.True(t, isTyped(err), "untyped error %v", err)
			return
		}
		// Only genuine blobs open: re-check the parser's invariants.
		require.Len(t, blob, Overhead+len(pt))
		require.Equal(t, SealVersion, blob[0])
		if bytes.Equal(blob, good) {
			require.Equal(t, "templates", table)
			require.Equal(t, id, identity)
		}
	})
}

// FuzzSealRoundTrip seals arbitrary values under arbitrary labels: every
// valid input round-trips and invalid labels are rejected up front.
func FuzzSealRoundTrip(f *testing.F) {
	s, err := NewSealer(testKey())
	require.NoError(f, err)
	f.Add("templates", []byte{1, 0, 0, 0, 1, 'a'}, []byte("payload"))
	f.Add("", []byte{1}, []byte{})
	f.Add("t", []byte{}, []byte{0})
	f.Fuzz(func(t *testing.T, table string, identity, pt []byte) {
		sealed, err := s.Seal(table, identity, pt)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidArgument)
			require.Nil(t, sealed)
			return
		}
		got, err := s.Unseal(table, identity, sealed)
		require.NoError(t, err)
		require.Equal(t, pt, got)
	})
}

// FuzzCounterRecord feeds arbitrary bytes to the counter-record parser.
func FuzzCounterRecord(f *testing.F) {
	key, err := deriveKey(testKey(), labelCounterKey, counterKeySize)
	require.NoError(f, err)
	good := marshalCounterRecord(key, 42)
	f.Add(good)
	f.Add(good[:counterRecordSize-1])
	f.Add([]byte("FPMC"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseCounterRecord(key, b)
		if err != nil {
			require.ErrorIs(t, err, ErrCounterTampered)
			require.Zero(t, v)
			return
		}
		require.Equal(t, marshalCounterRecord(key, v), b, "only canonical records parse")
	})
}

// FuzzCounterFile feeds arbitrary bytes to the whole-file counter parser
// (version 1 record or version 2 A/B slots). It must never panic; an error
// is ErrCounterTampered with a zero result; a file that parses is a v1
// record that re-marshals to itself, or a v2 file whose winning slot is a
// canonical slot at its place, no lower than the other slot if that one
// is valid, with zero padding between them.
func FuzzCounterFile(f *testing.F) {
	key, err := deriveKey(testKey(), labelCounterKey, counterKeySize)
	require.NoError(f, err)
	file := func(a, b []byte) []byte {
		out := make([]byte, counterFileSize)
		copy(out, a)
		copy(out[counterSlotStride:], b)
		return out
	}
	slotA := appendCounterSlot(nil, key, 0, 7)
	slotB := appendCounterSlot(nil, key, 1, 8)
	good := file(slotA, slotB)
	f.Add(good)
	f.Add(file(slotA, slotB[:20]))                        // B torn
	f.Add(file(slotA[:20], slotB))                        // A torn
	f.Add(file(nil, nil))                                 // both zero
	f.Add(file(slotB, slotA))                             // swapped
	f.Add(file(slotA, appendCounterSlot(nil, key, 1, 7))) // tie
	f.Add(good[:counterFileSize-1])
	f.Add(append(append([]byte(nil), good...), 0))
	f.Add(marshalCounterRecord(key, 42)) // version 1
	f.Add([]byte("FPMC\x02"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseCounterFile(key, b)
		if err != nil {
			require.ErrorIs(t, err, ErrCounterTampered)
			require.Zero(t, st)
			return
		}
		switch st.version {
		case counterVersion:
			require.Equal(t, marshalCounterRecord(key, st.value), b)
		case counterVersion2:
			require.Len(t, b, counterFileSize)
			require.Equal(t, make([]byte, counterSlotStride-counterSlotSize), b[counterSlotSize:counterSlotStride])
			at := b[st.slot*counterSlotStride:][:counterSlotSize]
			require.Equal(t, appendCounterSlot(nil, key, st.slot, st.value), at, "the winner is canonical")
			other := 1 - st.slot
			if v, err := parseCounterSlot(key, other, b[other*counterSlotStride:][:counterSlotSize]); err == nil {
				require.LessOrEqual(t, v, st.value, "the highest valid slot wins")
			}
		default:
			t.Fatalf("version %d", st.version)
		}
	})
}

func isTyped(err error) bool {
	for _, s := range []error{ErrInvalidArgument, ErrMalformed, ErrSealedCorrupt} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
