package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/fpemu/fpemu/tee"
)

// Frame constants (docs/protocol.md "Frame header").
const (
	// Version is the only protocol version; the version byte of every
	// frame, request or response, must equal it. Version 2 added
	// OPEN_SESSION's connection_data (the gid of TEEC_LOGIN_GROUP).
	Version = 2
	// LengthLen is the size of the length prefix.
	LengthLen = 4
	// HeaderLen is the size of the fixed frame header including the length
	// prefix: u32 length, u8 version, u8 op, u16 reserved, u32 request_id.
	HeaderLen = 12
	// MaxFrameLen is the largest value the length prefix may hold (1 MiB),
	// so a whole frame is at most LengthLen+MaxFrameLen bytes. A reader
	// checks it before allocating.
	MaxFrameLen = 1 << 20
	// MinFrameLen is the smallest value the length prefix may hold: the
	// header after the prefix (version, op, reserved, request_id).
	MinFrameLen = HeaderLen - LengthLen
)

// LoginPublic is TEEC_LOGIN_PUBLIC (GPD_SPE_007 §4.5.2): the client asks
// for no identity. The other methods are tee.Login values; the TA host
// derives their identity from the socket's kernel credentials.
const LoginPublic = tee.LoginPublic

// Op is the operation byte of a frame.
type Op uint8

// Operations (docs/protocol.md "Ops").
const (
	// OpOpenSession is TEEC_OpenSession: uuid[16], u32 login, params.
	OpOpenSession Op = 0x01
	// OpInvoke is TEEC_InvokeCommand: u32 session, u32 command, params.
	OpInvoke Op = 0x02
	// OpCloseSession is TEEC_CloseSession: u32 session.
	OpCloseSession Op = 0x03
	// OpResponse answers any request: u32 result, u32 origin, u32 session,
	// params.
	OpResponse Op = 0x80
)

// Valid reports whether o is a known op.
func (o Op) Valid() bool {
	switch o {
	case OpOpenSession, OpInvoke, OpCloseSession, OpResponse:
		return true
	}
	return false
}

func (o Op) String() string {
	switch o {
	case OpOpenSession:
		return "OPEN_SESSION"
	case OpInvoke:
		return "INVOKE"
	case OpCloseSession:
		return "CLOSE_SESSION"
	case OpResponse:
		return "RESPONSE"
	}
	return fmt.Sprintf("op(0x%02X)", uint8(o))
}

// Frame is one decoded CA→TA or TA→CA message. Which fields an op carries:
//
//	op             UUID Login ConnData Session Command Result Origin Params
//	OPEN_SESSION    x    x       x                                   x (request)
//	INVOKE                     x       x                    x (request)
//	CLOSE_SESSION              x
//	RESPONSE                   x              x      x      x (response)
//
// AppendFrame ignores fields its op does not carry and DecodeFrame leaves
// them zero. In a RESPONSE, Session is the new session id answering an
// OPEN_SESSION (0 on failure) and echoes the request's session otherwise.
type Frame struct {
	Op        Op
	RequestID uint32

	UUID  tee.UUID
	Login tee.Login
	// ConnData is OPEN_SESSION's connection_data, GPD_SPE_007's
	// connectionData: the gid asked for by TEEC_LOGIN_GROUP, 0 otherwise
	// (the codec carries any value; the host enforces the rule).
	ConnData uint32
	Session  uint32
	Command  uint32
	Result   tee.Result
	Origin   tee.Origin
	Params   tee.Params
}

// layout returns the parameter layout of f's op, or 0 for CLOSE_SESSION.
func (f *Frame) layout() Layout {
	switch f.Op {
	case OpOpenSession, OpInvoke:
		return LayoutRequest
	case OpResponse:
		return ResponseLayout(f.Result)
	}
	return 0
}

// fixedBodyLen is the size of an op's fields between the header and the
// parameter block.
func fixedBodyLen(o Op) int {
	switch o {
	case OpOpenSession:
		return 16 + 4 + 4
	case OpInvoke:
		return 4 + 4
	case OpCloseSession:
		return 4
	case OpResponse:
		return 4 + 4 + 4
	}
	return 0
}

func validOrigin(o tee.Origin) bool {
	return o >= tee.OriginAPI && o <= tee.OriginTrustedApp
}

// EncodedLen returns the size of f's encoding including the length prefix,
// or the error AppendFrame would return.
func (f *Frame) EncodedLen() (int, error) {
	if !f.Op.Valid() {
		return 0, formatErr(ErrUnknownOp, -1, "%v", f.Op)
	}
	if f.Op == OpResponse && !validOrigin(f.Origin) {
		return 0, formatErr(ErrOrigin, -1, "%v", f.Origin)
	}
	n := HeaderLen + fixedBodyLen(f.Op)
	if l := f.layout(); l != 0 {
		pn, err := paramsLen(&f.Params, l)
		if err != nil {
			return 0, err
		}
		n += pn
	}
	if n-LengthLen > MaxFrameLen {
		return 0, formatErr(ErrFrameLength, -1, "frame of %d bytes exceeds the maximum %d", n-LengthLen, MaxFrameLen)
	}
	return n, nil
}

// AppendFrame appends the encoding of f, length prefix included, to dst.
// On error (unknown op or parameter type, INOUT data beyond its capacity,
// a response origin that is not TEEC_ORIGIN_*, a frame above MaxFrameLen)
// it returns dst unchanged and a *FormatError.
func AppendFrame(dst []byte, f *Frame) ([]byte, error) {
	n, err := f.EncodedLen()
	if err != nil {
		return dst, err
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(n-LengthLen))
	dst = append(dst, Version, byte(f.Op), 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, f.RequestID)
	switch f.Op {
	case OpOpenSession:
		dst = append(dst, f.UUID[:]...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(f.Login))
		dst = binary.BigEndian.AppendUint32(dst, f.ConnData)
	case OpInvoke:
		dst = binary.BigEndian.AppendUint32(dst, f.Session)
		dst = binary.BigEndian.AppendUint32(dst, f.Command)
	case OpCloseSession:
		dst = binary.BigEndian.AppendUint32(dst, f.Session)
	case OpResponse:
		dst = binary.BigEndian.AppendUint32(dst, uint32(f.Result))
		dst = binary.BigEndian.AppendUint32(dst, uint32(f.Origin))
		dst = binary.BigEndian.AppendUint32(dst, f.Session)
	}
	if l := f.layout(); l != 0 {
		dst = appendParams(dst, &f.Params, l)
	}
	return dst, nil
}

// FrameLen reads the length prefix at the start of b (at least LengthLen
// bytes) and returns the size of the whole frame, prefix included. It fails
// with ErrFrameLength when the prefix is below MinFrameLen or above
// MaxFrameLen: a stream reader calls it before allocating, and on error it
// cannot find the next frame boundary and must drop the connection.
func FrameLen(b []byte) (int, error) {
	if len(b) < LengthLen {
		return 0, formatErr(ErrTruncated, 0, "length prefix needs %d bytes, have %d", LengthLen, len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if n < MinFrameLen || n > MaxFrameLen {
		return 0, formatErr(ErrFrameLength, 0, "length %d outside [%d, %d]", n, MinFrameLen, MaxFrameLen)
	}
	return LengthLen + int(n), nil
}

// RequestID returns the request id of a frame whose length prefix is valid
// and consistent with len(b), even if the rest of the frame is malformed, so
// that a host can answer TEEC_ERROR_BAD_FORMAT to the right request.
func RequestID(b []byte) (uint32, bool) {
	n, err := FrameLen(b)
	if err != nil || n != len(b) {
		return 0, false
	}
	return binary.BigEndian.Uint32(b[8:]), true
}

// DecodeFrame decodes one whole frame, length prefix included; b must hold
// exactly that frame. The returned Frame owns its bytes. On error it returns
// the zero Frame and a *FormatError.
func DecodeFrame(b []byte) (Frame, error) {
	f, err := decodeFrame(b)
	if err != nil {
		return Frame{}, err
	}
	return f, nil
}

// DecodeFrameInto is DecodeFrame with the memref bytes copied into a
// caller-owned buffer instead of fresh allocations: it decodes b into *f
// and appends every memref's bytes to buf, returning the extended buf. Each
// memref's Data is a sub-slice of the returned buf whose capacity ends at
// its own last byte, so appending to one never overwrites another; nothing
// aliases b, which the caller may reuse at once. buf grows at most once,
// to hold len(b) more bytes, so a frame never makes it larger than its own
// size. The caller decides when the memrefs' bytes may be overwritten (a
// host reuses buf once the command is answered). The decoding is exactly
// DecodeFrame's (the same checks, the same *FormatError); on error *f is
// the zero Frame and buf is returned with its length unchanged.
func DecodeFrameInto(f *Frame, b, buf []byte) ([]byte, error) {
	if cap(buf)-len(buf) < len(b) {
		buf = append(make([]byte, 0, len(buf)+len(b)), buf...)
	}
	d := decoder{arena: buf, inArena: true}
	err := decodeFrameWith(f, b, &d)
	if err != nil {
		*f = Frame{}
		return buf, err
	}
	return d.arena, nil
}

func decodeFrame(b []byte) (Frame, error) {
	var f Frame
	err := decodeFrameWith(&f, b, &decoder{})
	return f, err
}

// decodeFrameWith decodes b into *f (which it overwrites) with d, whose
// arena, if any, receives the memref bytes.
func decodeFrameWith(f *Frame, b []byte, d *decoder) error {
	*f = Frame{}
	n, err := FrameLen(b)
	if err != nil {
		return err
	}
	if n != len(b) {
		return formatErr(ErrFrameLength, 0, "length prefix says %d bytes, have %d", n-LengthLen, len(b)-LengthLen)
	}
	if b[4] != Version {
		return formatErr(ErrVersion, 4, "version %d, want %d", b[4], Version)
	}
	f.Op = Op(b[5])
	if !f.Op.Valid() {
		return formatErr(ErrUnknownOp, 5, "%v", f.Op)
	}
	if b[6] != 0 || b[7] != 0 {
		return formatErr(ErrReserved, 6, "header reserved bytes")
	}
	f.RequestID = binary.BigEndian.Uint32(b[8:])
	d.b, d.off = b, HeaderLen
	switch f.Op {
	case OpOpenSession:
		if err := d.need(16, "uuid"); err != nil {
			return err
		}
		copy(f.UUID[:], b[d.off:])
		d.off += 16
		var login uint32
		login, f.ConnData, err = d.pair("login", "connection_data")
		f.Login = tee.Login(login)
	case OpInvoke:
		f.Session, f.Command, err = d.pair("session_id", "command_id")
	case OpCloseSession:
		f.Session, err = d.u32("session_id")
	case OpResponse:
		var r, o uint32
		if r, o, err = d.pair("result", "origin"); err == nil {
			f.Result, f.Origin = tee.Result(r), tee.Origin(o)
			if !validOrigin(f.Origin) {
				return formatErr(ErrOrigin, d.off-4, "%v", f.Origin)
			}
			f.Session, err = d.u32("session_id")
		}
	}
	if err != nil {
		return err
	}
	if l := f.layout(); l != 0 {
		if err := d.paramsInto(&f.Params, l); err != nil {
			return err
		}
	}
	return d.finish()
}
