package fingerprint

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/ta/fingerprint/fpproto"
)

// BenchmarkAuthenticate measures one AUTHENTICATE over Unix sockets with a
// zero-latency sensor: command, capture of a presented sample (sensor
// control socket), match against 5 templates, HAT minting, lockout reset
// in the sealed store, bio envelope, and the events pumped by NEXT_EVENT.
func BenchmarkAuthenticate(b *testing.B) {
	d := newDevice(b)
	bn := d.ready(b)
	f := testFinger(1)
	for i := range fpproto.MaxTemplatesPerGroup - 1 {
		bn.enroll(b, 1, 2, testFinger(uint64(500+i)))
	}
	bn.enroll(b, 1, 2, f)
	p := probe(f, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		evs := bn.authenticate(b, uint64(i+1), 1, p)
		if e := evs[len(evs)-1]; e.Type != fpproto.MsgAuthenticated || e.FingerID == 0 {
			b.Fatalf("not authenticated: %v", evs)
		}
		if i%16 == 15 {
			_, _, err := fpproto.FetchOutbox{}.Execute(ctx(b), bn.cmd) // keep the outbox from evicting
			require.NoError(b, err)
		}
	}
}
