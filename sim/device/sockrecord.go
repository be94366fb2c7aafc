package device

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fpemu/fpemu/tee/devdir"
)

// The socket record (docs/protocol.md §7.7) is DEVICE_DIR/sockets: one line
// per socket the launcher verified as its child's,
//
//	<file> <dev> <inode> <ctime-ns>\n
//
// with <file> a socket file name in sock/ and the three numbers in decimal.

// maxRecordLines bounds the record: more lines than this is malformed.
const maxRecordLines = 64

// maxRecordSize bounds the bytes parseSocketRecord accepts.
const maxRecordSize = maxRecordLines * 128

// ErrBadSocketRecord means the socket record is not in the §7.7 format. The
// launcher then removes none of the sockets it lists.
var ErrBadSocketRecord = errors.New("sim: malformed socket record")

// recordedSocket is one line of the socket record.
type recordedSocket struct {
	Name string
	ID   devdir.FileID
}

// parseSocketRecord decodes the socket record strictly: every line must
// be complete, name a plain socket file (no path separator, not "." or
// "..", ending in ".sock"), carry three decimal numbers without sign or
// leading zeros, and name a file at most once. An error returns nothing.
// It does no I/O.
func parseSocketRecord(b []byte) ([]recordedSocket, error) {
	if len(b) > maxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrBadSocketRecord, len(b), maxRecordSize)
	}
	if len(b) == 0 {
		return nil, nil
	}
	if b[len(b)-1] != '\n' {
		return nil, fmt.Errorf("%w: last line unterminated", ErrBadSocketRecord)
	}
	lines := bytes.Split(b[:len(b)-1], []byte{'\n'})
	if len(lines) > maxRecordLines {
		return nil, fmt.Errorf("%w: %d lines, at most %d", ErrBadSocketRecord, len(lines), maxRecordLines)
	}
	out := make([]recordedSocket, 0, len(lines))
	seen := map[string]bool{}
	for i, l := range lines {
		f := strings.Split(string(l), " ")
		if len(f) != 4 {
			return nil, fmt.Errorf("%w: line %d: %d fields, want 4", ErrBadSocketRecord, i+1, len(f))
		}
		name := f[0]
		if !validSocketName(name) {
			return nil, fmt.Errorf("%w: line %d: %q is not a socket file name", ErrBadSocketRecord, i+1, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("%w: line %d: %q listed twice", ErrBadSocketRecord, i+1, name)
		}
		seen[name] = true
		var nums [3]uint64
		for j, s := range f[1:] {
			n, err := decimal(s)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d field %d: %v", ErrBadSocketRecord, i+1, j+2, err)
			}
			nums[j] = n
		}
		if nums[2] > 1<<63-1 {
			return nil, fmt.Errorf("%w: line %d: change time out of range", ErrBadSocketRecord, i+1)
		}
		out = append(out, recordedSocket{Name: name, ID: devdir.FileID{Dev: nums[0], Ino: nums[1], Ctime: int64(nums[2])}})
	}
	return out, nil
}

// appendSocketRecord appends the record of socks, in order, to dst.
func appendSocketRecord(dst []byte, socks []recordedSocket) []byte {
	for _, s := range socks {
		dst = fmt.Appendf(dst, "%s %d %d %d\n", s.Name, s.ID.Dev, s.ID.Ino, s.ID.Ctime)
	}
	return dst
}

// validSocketName reports whether s can name a socket file in sock/.
func validSocketName(s string) bool {
	if len(s) <= len(".sock") || len(s) > 64 || !strings.HasSuffix(s, ".sock") {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return false
		}
	}
	return s[0] != '.'
}

// decimal parses a canonical unsigned decimal (no sign, no leading zero).
func decimal(s string) (uint64, error) {
	if s == "" || len(s) > 1 && s[0] == '0' || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("%q is not a canonical decimal", s)
	}
	return strconv.ParseUint(s, 10, 64)
}
