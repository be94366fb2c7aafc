package chanwire

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzSeeds adds every golden message, truncated and extended.
func fuzzSeeds(f *testing.F, encs ...func() ([]byte, error)) {
	for _, enc := range encs {
		b, err := enc()
		require.NoError(f, err)
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(append([]byte{}, b...), 0))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 3, 1, 0, 0, 0, 0})
}

// roundTrip is the property every decoder has: what it accepts
// re-encodes to the same bytes; what it rejects is a *FormatError.
func roundTrip[T any](t *testing.T, b []byte, parse func([]byte) (T, error), enc func(T) ([]byte, error)) {
	v, err := parse(b)
	if err != nil {
		var fe *FormatError
		require.ErrorAs(t, err, &fe)
		return
	}
	out, err := enc(v)
	require.NoError(t, err)
	require.Equal(t, b, out)
}

func FuzzParseClientHello(f *testing.F) {
	fuzzSeeds(f, goldenCH.Marshal, goldenCHgm.Marshal)
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, ParseClientHello, func(m ClientHello) ([]byte, error) { return m.Marshal() })
	})
}

func FuzzParseServerHello(f *testing.F) {
	fuzzSeeds(f, goldenSH.Marshal, goldenSHgm.Marshal)
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, ParseServerHello, func(m ServerHello) ([]byte, error) { return m.Marshal() })
	})
}

func FuzzParseClientFinished(f *testing.F) {
	fuzzSeeds(f, goldenCF.Marshal, goldenCFgm.Marshal)
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, ParseClientFinished, func(m ClientFinished) ([]byte, error) { return m.Marshal() })
	})
}

func FuzzParseRSAHello(f *testing.F) {
	fuzzSeeds(f, goldenRH.Marshal, goldenRHd.Marshal)
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, ParseRSAHello, func(m RSAHello) ([]byte, error) { return m.Marshal() })
	})
}

func FuzzParseRSAResponse(f *testing.F) {
	fuzzSeeds(f, goldenRR.Marshal)
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, ParseRSAResponse, func(m RSAResponse) ([]byte, error) { return m.Marshal() })
	})
}

func FuzzParseRSAConfirm(f *testing.F) {
	fuzzSeeds(f, goldenRC.Marshal)
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, ParseRSAConfirm, func(m RSAConfirm) ([]byte, error) { return m.Marshal() })
	})
}

func FuzzParseRSAPlaintexts(f *testing.F) {
	hp := RSAHelloPlain{RandomA: rnd(1), DeviceID: []byte("dev"), DeviceKey: fill(294, 0x30)}
	cp := RSAConfirmPlain{RandomC: rnd(3), Signature: fill(256, 9)}
	rp := RSAResponsePlain{RandomB: rnd(2), RandomA: rnd(1)}
	f.Add(uint8(0), []byte{})
	for i, enc := range []func() ([]byte, error){hp.Marshal, rp.Marshal, cp.Marshal} {
		b, err := enc()
		require.NoError(f, err)
		f.Add(uint8(i), b)
		f.Add(uint8(i), b[:len(b)-1])
	}
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		switch which % 3 {
		case 0:
			roundTrip(t, b, ParseRSAHelloPlain, func(m RSAHelloPlain) ([]byte, error) { return m.Marshal() })
		case 1:
			roundTrip(t, b, ParseRSAResponsePlain, func(m RSAResponsePlain) ([]byte, error) { return m.Marshal() })
		default:
			roundTrip(t, b, ParseRSAConfirmPlain, func(m RSAConfirmPlain) ([]byte, error) { return m.Marshal() })
		}
	})
}

func FuzzParseRecord(f *testing.F) {
	fuzzSeeds(f, goldenRecG.Marshal, goldenRecR.Marshal)
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, ParseRecord, func(m Record) ([]byte, error) { return m.Marshal() })
	})
}

func FuzzParseAppMessage(f *testing.F) {
	fuzzSeeds(f, goldenApp.Marshal, goldenApp0.Marshal)
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip(t, b, ParseAppMessage, func(m AppMessage) ([]byte, error) { return m.Marshal() })
	})
}
