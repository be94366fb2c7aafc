package wire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/tee"
)

// readHex reads a golden frame from testdata: hex digits, whitespace
// ignored, '#' starts a comment running to the end of the line.
func readHex(name string) ([]byte, error) {
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		return nil, err
	}
	var digits strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

func mustHex(t testing.TB, name string) []byte {
	t.Helper()
	b, err := readHex(name)
	require.NoError(t, err)
	return b
}

// goldenFrames are the frames of testdata/*.hex with their decoded form.
// docs/protocol.md quotes open_session_request.hex and
// open_session_response.hex as its worked example.
var goldenFrames = []struct {
	file  string
	frame Frame
}{
	{"open_session_request.hex", Frame{
		Op: OpOpenSession, RequestID: 1, UUID: tee.UUIDKeymaster, Login: LoginPublic,
	}},
	{"open_session_group_request.hex", Frame{
		Op: OpOpenSession, RequestID: 7, UUID: tee.UUIDKeymaster, Login: tee.LoginGroup, ConnData: 1000,
	}},
	{"open_session_response.hex", Frame{
		Op: OpResponse, RequestID: 1, Result: tee.Success, Origin: tee.OriginTrustedApp, Session: 1,
	}},
	{"invoke_request.hex", Frame{
		Op: OpInvoke, RequestID: 2, Session: 1, Command: 0x10,
		Params: tee.Params{
			{Type: tee.ParamValueInput, A: 7, B: 9},
			{Type: tee.ParamMemrefInput, Data: []byte("abc"), Size: 3},
			{Type: tee.ParamMemrefOutput, Size: 16},
			{Type: tee.ParamMemrefInout, Data: []byte("xy"), Size: 8},
		},
	}},
	{"invoke_response.hex", Frame{
		Op: OpResponse, RequestID: 2, Result: tee.Success, Origin: tee.OriginTrustedApp, Session: 1,
		Params: tee.Params{
			{Type: tee.ParamValueInput},
			{Type: tee.ParamMemrefInput},
			{Type: tee.ParamMemrefOutput, Data: []byte("hello"), Size: 5},
			{Type: tee.ParamMemrefInout, Data: []byte("XYZ"), Size: 3},
		},
	}},
	{"invoke_response_short_buffer.hex", Frame{
		Op: OpResponse, RequestID: 2, Result: tee.ResultShortBuffer, Origin: tee.OriginTrustedApp, Session: 1,
		Params: tee.Params{
			{Type: tee.ParamValueInput},
			{Type: tee.ParamMemrefInput},
			{Type: tee.ParamMemrefOutput, Size: 20},
			{Type: tee.ParamMemrefInout, Size: 2},
		},
	}},
	{"invoke_values_request.hex", Frame{
		Op: OpInvoke, RequestID: 4, Session: 1, Command: 0x20,
		Params: tee.Params{
			{Type: tee.ParamValueOutput},
			{Type: tee.ParamValueInout, A: 1, B: 2},
		},
	}},
	{"invoke_values_response.hex", Frame{
		Op: OpResponse, RequestID: 4, Result: tee.Success, Origin: tee.OriginTrustedApp, Session: 1,
		Params: tee.Params{
			{Type: tee.ParamValueOutput, A: 3, B: 4},
			{Type: tee.ParamValueInout, A: 5, B: 6},
		},
	}},
	{"close_session_request.hex", Frame{Op: OpCloseSession, RequestID: 3, Session: 1}},
	{"close_session_response.hex", Frame{
		Op: OpResponse, RequestID: 3, Result: tee.Success, Origin: tee.OriginTEE, Session: 1,
	}},
	{"bad_format_response.hex", Frame{
		Op: OpResponse, RequestID: 9, Result: tee.ResultBadFormat, Origin: tee.OriginTEE,
	}},
}

func TestGoldenFrames(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.hex"))
	require.NoError(t, err)
	require.Len(t, files, len(goldenFrames), "every golden file has a table entry")

	for _, g := range goldenFrames {
		t.Run(g.file, func(t *testing.T) {
			raw := mustHex(t, g.file)

			got, err := DecodeFrame(raw)
			require.NoError(t, err)
			require.Equal(t, g.frame, got)

			var into Frame
			arena, err := DecodeFrameInto(&into, raw, []byte("kept"))
			require.NoError(t, err)
			require.Equal(t, g.frame, into, "DecodeFrameInto decodes as DecodeFrame")
			require.Equal(t, "kept", string(arena[:4]), "the arena's earlier bytes stay")

			enc, err := AppendFrame(nil, &g.frame)
			require.NoError(t, err)
			require.Equal(t, raw, enc)

			n, err := g.frame.EncodedLen()
			require.NoError(t, err)
			require.Equal(t, len(raw), n)

			id, ok := RequestID(raw)
			require.True(t, ok)
			require.Equal(t, g.frame.RequestID, id)
		})
	}
}

// TestProtocolDocQuotesGolden keeps the worked example of docs/protocol.md
// in step with the codec: the document must contain the golden bytes.
func TestProtocolDocQuotesGolden(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "protocol.md"))
	require.NoError(t, err)
	docHex := strings.Join(strings.Fields(string(doc)), "")
	for _, name := range []string{"open_session_request.hex", "open_session_response.hex"} {
		raw := mustHex(t, name)
		require.Contains(t, docHex, hex.EncodeToString(raw), "docs/protocol.md must quote %s", name)
	}
}
