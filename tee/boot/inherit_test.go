package boot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
)

func TestWriteToRead(t *testing.T) {
	rec := mustProvision(t, testFused(), testBootID(0), tee.RoleFingerprint)
	var buf bytes.Buffer
	n, err := rec.WriteTo(&buf)
	require.NoError(t, err)
	assert.Equal(t, int64(buf.Len()), n)
	got, err := Read(&buf)
	require.NoError(t, err)
	assert.Equal(t, rec.Keys, got.Keys)
	assert.Equal(t, rec.StorageKey, got.StorageKey)

	_, err = Record{}.WriteTo(&buf)
	require.ErrorIs(t, err, ErrMalformedRecord)

	_, err = Read(bytes.NewReader(make([]byte, MaxRecordSize+10)))
	require.ErrorIs(t, err, ErrRecordTooLarge)
	_, err = Read(strings.NewReader("FPPR"))
	require.ErrorIs(t, err, ErrMalformedRecord)
}

func fdOpen(fd uintptr) bool {
	_, err := unixFcntlGetfd(fd)
	return err == nil
}

func unixFcntlGetfd(fd uintptr) (uintptr, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFD, 0)
	if e != 0 {
		return 0, e
	}
	return r, nil
}

func TestReadFromFDClosesIt(t *testing.T) {
	rec := mustProvision(t, testFused(), testBootID(0), tee.RoleGatekeeper)
	p, err := RecordPipe(rec)
	require.NoError(t, err)
	fd, err := syscall.Dup(int(p.Fd()))
	require.NoError(t, err)
	require.NoError(t, p.Close())

	got, err := ReadFromFD(uintptr(fd))
	require.NoError(t, err)
	assert.Equal(t, rec.Keys, got.Keys)
	assert.False(t, fdOpen(uintptr(fd)), "the descriptor must be closed after reading")
}

func TestReadFromFDBadRecordStillCloses(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	_, err = w.Write([]byte("not a record"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	fd, err := syscall.Dup(int(r.Fd()))
	require.NoError(t, err)
	require.NoError(t, r.Close())
	_, err = ReadFromFD(uintptr(fd))
	require.ErrorIs(t, err, ErrMalformedRecord)
	assert.False(t, fdOpen(uintptr(fd)))
}

// childReport is what the helper process prints: only non-secret facts and
// a digest of the record it received.
type childReport struct {
	Role   string `json:"role"`
	BootID string `json:"boot_id"`
	Digest string `json:"digest"`
	NowMs  uint64 `json:"now_ms"`
	Err    string `json:"err,omitempty"`
}

const childEnv = "FPEMU_BOOT_TEST_CHILD" // a mode flag, never a secret

// TestHelperChild is the TA side when the test binary is re-executed by
// TestInheritedAcrossExec; otherwise it does nothing.
func TestHelperChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("helper process only")
	}
	var rep childReport
	rec, err := ReadInherited()
	if err != nil {
		rep.Err = err.Error()
	} else {
		b, _ := rec.Marshal()
		d := sha256.Sum256(b)
		rep = childReport{Role: string(rec.Role), BootID: rec.BootID.String(), Digest: hex.EncodeToString(d[:]), NowMs: rec.Clock().NowMs()}
		if fdOpen(InheritedFD) {
			rep.Err = "fd 3 still open after ReadInherited"
		}
	}
	out, _ := json.Marshal(rep)
	fmt.Println("REPORT " + string(out))
	os.Exit(0)
}

func runChild(t *testing.T, extra *os.File) childReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.ExtraFiles = []*os.File{extra}
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	require.NoError(t, err, "child: %s", out)
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "REPORT "); ok {
			var rep childReport
			require.NoError(t, json.Unmarshal([]byte(rest), &rep))
			return rep
		}
	}
	t.Fatalf("child printed no report: %q", out)
	return childReport{}
}

// TestInheritedAcrossExec is the launcher → TA hand-over for real: the
// record goes on a pipe as the child's fd 3 (exec.Cmd.ExtraFiles), the
// child reads it with ReadInherited, closes fd 3, and its boot clock agrees
// with the launcher's.
func TestInheritedAcrossExec(t *testing.T) {
	dev, err := Boot(t.TempDir())
	require.NoError(t, err)
	rec, err := dev.Provision(tee.RolePayment)
	require.NoError(t, err)
	b, err := rec.Marshal()
	require.NoError(t, err)
	want := sha256.Sum256(b)

	p, err := RecordPipe(rec)
	require.NoError(t, err)
	defer p.Close()
	before := dev.Clock().NowMs()
	rep := runChild(t, p)
	after := dev.Clock().NowMs()

	require.Empty(t, rep.Err)
	assert.Equal(t, "payment", rep.Role)
	assert.Equal(t, dev.ID().String(), rep.BootID)
	assert.Equal(t, hex.EncodeToString(want[:]), rep.Digest)
	assert.GreaterOrEqual(t, rep.NowMs, before, "the child's boot clock is the launcher's")
	assert.LessOrEqual(t, rep.NowMs, after)
}

func TestInheritedBadRecord(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	secretish := bytes.Repeat([]byte{0xE7}, 40)
	_, err = w.Write(append([]byte("FPPR\x01"), secretish...))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	rep := runChild(t, r)
	assert.Contains(t, rep.Err, "malformed provisioning record")
	assert.NotContains(t, rep.Err, "e7e7")
}
