package bio

import (
	"fmt"

	"github.com/fpemu/fpemu/tee/envelope"
)

// MaxBatch bounds the number of envelopes in one batch.
const MaxBatch = MaxPending

// AppendBatch appends envelopes to dst as a batch: their wire bytes
// concatenated. Envelopes are self-delimiting (the header carries the
// payload length), so a batch needs no framing of its own. The fingerprint
// TA returns its drained outbox as one batch in one memref.
func AppendBatch(dst []byte, envs [][]byte) []byte {
	for _, e := range envs {
		dst = append(dst, e...)
	}
	return dst
}

// SplitBatch splits a batch into its envelopes. Each must be a
// structurally valid envelope (envelope.Parse; authenticity is the
// recipient's business), there must be at most MaxBatch of them and no
// trailing bytes. On error it returns nil and an error wrapping
// ErrMalformed. The returned slices are copies.
func SplitBatch(b []byte) ([][]byte, error) {
	var out [][]byte
	for off := 0; off < len(b); {
		rest := b[off:]
		if len(rest) < envelope.HeaderSize {
			return nil, fmt.Errorf("%w: batch: %d trailing bytes at offset %d", ErrMalformed, len(rest), off)
		}
		n := int(uint32(rest[envelope.HeaderSize-4])<<24 | uint32(rest[envelope.HeaderSize-3])<<16 |
			uint32(rest[envelope.HeaderSize-2])<<8 | uint32(rest[envelope.HeaderSize-1]))
		if n > envelope.MaxPayload || len(rest) < envelope.Overhead+n {
			return nil, fmt.Errorf("%w: batch: truncated envelope at offset %d", ErrMalformed, off)
		}
		if len(out) == MaxBatch {
			return nil, fmt.Errorf("%w: batch of more than %d envelopes", ErrMalformed, MaxBatch)
		}
		e := rest[:envelope.Overhead+n]
		if _, err := envelope.Parse(e); err != nil {
			return nil, fmt.Errorf("%w: batch: envelope %d at offset %d: %v", ErrMalformed, len(out), off, err)
		}
		out = append(out, append([]byte(nil), e...))
		off += len(e)
	}
	return out, nil
}
