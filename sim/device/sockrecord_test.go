package device

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee/devdir"
)

func TestParseSocketRecord(t *testing.T) {
	good := "fingerprint-sensor.sock 2049 1234 1733331234567890123\nkeymaster.sock 2049 77 1\n"
	recs, err := parseSocketRecord([]byte(good))
	require.NoError(t, err)
	require.Equal(t, []recordedSocket{
		{Name: "fingerprint-sensor.sock", ID: devdir.FileID{Dev: 2049, Ino: 1234, Ctime: 1733331234567890123}},
		{Name: "keymaster.sock", ID: devdir.FileID{Dev: 2049, Ino: 77, Ctime: 1}},
	}, recs)
	assert.Equal(t, good, string(appendSocketRecord(nil, recs)), "round trip")

	empty, err := parseSocketRecord(nil)
	require.NoError(t, err)
	assert.Empty(t, empty)

	long := make([]byte, 0, maxRecordSize+10)
	for len(long) <= maxRecordSize {
		long = append(long, "a.sock 1 1 1\n"...)
	}
	for name, in := range map[string]string{
		"unterminated":     "keymaster.sock 1 2 3",
		"three fields":     "keymaster.sock 1 2\n",
		"five fields":      "keymaster.sock 1 2 3 4\n",
		"double space":     "keymaster.sock  1 2 3\n",
		"parent dir":       ".. 1 2 3\n",
		"dot name":         ".sock 1 2 3\n",
		"path":             "x/keymaster.sock 1 2 3\n",
		"not a socket":     "fused.key 1 2 3\n",
		"upper case":       "KM.sock 1 2 3\n",
		"sign":             "keymaster.sock +1 2 3\n",
		"negative":         "keymaster.sock 1 -2 3\n",
		"leading zero":     "keymaster.sock 01 2 3\n",
		"overflow":         "keymaster.sock 1 2 18446744073709551616\n",
		"ctime over int64": "keymaster.sock 1 2 9223372036854775808\n",
		"duplicate":        "a.sock 1 2 3\na.sock 1 2 3\n",
		"blank line":       "a.sock 1 2 3\n\n",
		"too large":        string(long),
	} {
		t.Run(name, func(t *testing.T) {
			recs, err := parseSocketRecord([]byte(in))
			require.ErrorIs(t, err, ErrBadSocketRecord)
			assert.Nil(t, recs, "no partial result")
		})
	}
}

// FuzzParseSocketRecord: never a panic; an accepted record re-encodes to
// exactly its input (the format is canonical) and names only plain socket
// files.
func FuzzParseSocketRecord(f *testing.F) {
	f.Add([]byte("keymaster.sock 2049 77 1\n"))
	f.Add([]byte("fingerprint-sensor.sock 2049 1234 1733331234567890123\nhal.sock 1 2 3\n"))
	f.Add([]byte(".. 1 2 3\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := parseSocketRecord(b)
		if err != nil {
			require.Nil(t, recs)
			return
		}
		require.Equal(t, string(b), string(appendSocketRecord(nil, recs)))
		for _, r := range recs {
			require.True(t, validSocketName(r.Name), r.Name)
		}
	})
}
