package apdu

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Size limits of ISO/IEC 7816-4:2020 §5.2: Nc is at most 65535 (extended
// Lc), Ne at most 65536 (extended Le 0000).
const (
	MaxNc      = 65535
	MaxNe      = 65536
	MaxShortNc = 255
	MaxShortNe = 256
	headerSize = 4
	// MaxCommandSize is the longest command APDU: header, extended Lc
	// (3 bytes), 65535 data bytes, extended Le (2 bytes).
	MaxCommandSize = headerSize + 3 + MaxNc + 2
	// MaxResponseSize is the longest response APDU: 65536 data bytes and
	// SW1-SW2.
	MaxResponseSize = MaxNe + 2
)

// Errors of the codec; every parse error wraps ErrMalformed and one of the
// more specific sentinels.
var (
	ErrMalformed  = errors.New("apdu: malformed")
	ErrTooShort   = errors.New("apdu: shorter than the 4-byte header")
	ErrTooLong    = errors.New("apdu: longer than the longest APDU")
	ErrLength     = errors.New("apdu: length fields do not match the body")
	ErrInvalidCLA = errors.New("apdu: invalid class byte")
	ErrInvalidINS = errors.New("apdu: invalid instruction byte")
	ErrEncode     = errors.New("apdu: cannot encode")
)

// ParseError is the error of ParseCommand and ParseResponse: what was
// wrong (Kind, one of the sentinels) and where.
type ParseError struct {
	Kind   error
	Detail string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%v: %s", e.Kind, e.Detail) }

// Unwrap makes errors.Is(err, ErrMalformed) and errors.Is(err, e.Kind) true.
func (e *ParseError) Unwrap() []error { return []error{ErrMalformed, e.Kind} }

func perr(kind error, format string, args ...any) error {
	return &ParseError{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// Case is the ISO/IEC 7816-4:2020 §5.2 Table 2 case of a command.
type Case uint8

// The four cases: no data and no response data (1), response data (2),
// command data (3), both (4).
const (
	Case1 Case = 1
	Case2 Case = 2
	Case3 Case = 3
	Case4 Case = 4
)

// Command is one command APDU. Ne is the number of response bytes
// expected: 0 means the Le field is absent; 1..256 fit a short Le (256 as
// 00), up to 65536 an extended one (65536 as 0000).
type Command struct {
	CLA, INS, P1, P2 byte
	Data             []byte
	Ne               int
	// Extended records that the command was received in extended length
	// form (ISO/IEC 7816-4:2020 §5.2); Marshal uses it when the lengths
	// would fit the short form.
	Extended bool
}

// Case returns the command's ISO 7816-4 case.
func (c Command) Case() Case {
	switch {
	case len(c.Data) == 0 && c.Ne == 0:
		return Case1
	case len(c.Data) == 0:
		return Case2
	case c.Ne == 0:
		return Case3
	default:
		return Case4
	}
}

// Chained reports whether the class byte announces command chaining
// (ISO/IEC 7816-4:2020 §5.4.1, first interindustry class, b5 = 1: "the
// command is not the last command of a chain").
func (c Command) Chained() bool { return c.CLA&0xE0 == 0 && c.CLA&0x10 != 0 }

// checkHeader enforces ISO/IEC 7816-4:2020 §5.4.1 (CLA 'FF' is invalid)
// and §5.4.2 (INS '6X' and '9X' are invalid).
func checkHeader(cla, ins byte) error {
	if cla == 0xFF {
		return perr(ErrInvalidCLA, "CLA FF is reserved (ISO/IEC 7816-4 §5.4.1)")
	}
	if ins&0xF0 == 0x60 || ins&0xF0 == 0x90 {
		return perr(ErrInvalidINS, "INS %02X is invalid (ISO/IEC 7816-4 §5.4.2)", ins)
	}
	return nil
}

// ParseCommand decodes exactly one command APDU (ISO/IEC 7816-4:2020
// §5.2, Table 2 and the decoding rules after it):
//
//	len 4                              case 1
//	len 5                              case 2S, Le = b4 (00 = 256)
//	b4 ≠ 00, len 5+Lc                  case 3S
//	b4 ≠ 00, len 6+Lc                  case 4S, Le last byte
//	b4 = 00, len 7                     case 2E, Le = b5b6 (0000 = 65536)
//	b4 = 00, Lc = b5b6 ≠ 0, len 7+Lc   case 3E
//	b4 = 00, Lc = b5b6 ≠ 0, len 9+Lc   case 4E, Le last two bytes
//
// Anything else is an error (ErrLength), as are an invalid CLA or INS.
// The returned Data is a copy.
func ParseCommand(b []byte) (Command, error) {
	if len(b) < headerSize {
		return Command{}, perr(ErrTooShort, "%d bytes", len(b))
	}
	if len(b) > MaxCommandSize {
		return Command{}, perr(ErrTooLong, "%d bytes, at most %d", len(b), MaxCommandSize)
	}
	if err := checkHeader(b[0], b[1]); err != nil {
		return Command{}, err
	}
	c := Command{CLA: b[0], INS: b[1], P1: b[2], P2: b[3]}
	body := b[headerSize:]
	switch {
	case len(body) == 0:
		return c, nil
	case len(body) == 1:
		c.Ne = shortNe(body[0])
		return c, nil
	case body[0] != 0:
		lc := int(body[0])
		switch len(body) {
		case 1 + lc:
			c.Data = append([]byte(nil), body[1:]...)
		case 2 + lc:
			c.Data = append([]byte(nil), body[1:1+lc]...)
			c.Ne = shortNe(body[1+lc])
		default:
			return Command{}, perr(ErrLength, "short Lc %d with a body of %d bytes", lc, len(body))
		}
		return c, nil
	}
	// Extended length: body[0] == 0.
	c.Extended = true
	if len(body) < 3 {
		return Command{}, perr(ErrLength, "extended length field of %d bytes", len(body))
	}
	if len(body) == 3 {
		c.Ne = extNe(binary.BigEndian.Uint16(body[1:3]))
		return c, nil
	}
	lc := int(binary.BigEndian.Uint16(body[1:3]))
	if lc == 0 {
		return Command{}, perr(ErrLength, "extended Lc 0000 followed by %d bytes", len(body)-3)
	}
	switch len(body) {
	case 3 + lc:
		c.Data = append([]byte(nil), body[3:]...)
	case 5 + lc:
		c.Data = append([]byte(nil), body[3:3+lc]...)
		c.Ne = extNe(binary.BigEndian.Uint16(body[3+lc:]))
	default:
		return Command{}, perr(ErrLength, "extended Lc %d with a body of %d bytes", lc, len(body))
	}
	return c, nil
}

func shortNe(le byte) int {
	if le == 0 {
		return MaxShortNe
	}
	return int(le)
}

func extNe(le uint16) int {
	if le == 0 {
		return MaxNe
	}
	return int(le)
}

// Marshal encodes the command, in short form when Nc ≤ 255, Ne ≤ 256 and
// Extended is not set, otherwise in extended form (both length fields
// extended, as ISO/IEC 7816-4:2020 §5.2 requires). It fails (ErrEncode)
// for an invalid CLA or INS, Nc > 65535 or Ne outside 0..65536.
func (c Command) Marshal() ([]byte, error) {
	if err := checkHeader(c.CLA, c.INS); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	nc := len(c.Data)
	switch {
	case nc > MaxNc:
		return nil, fmt.Errorf("%w: Nc %d > %d", ErrEncode, nc, MaxNc)
	case c.Ne < 0 || c.Ne > MaxNe:
		return nil, fmt.Errorf("%w: Ne %d outside 0..%d", ErrEncode, c.Ne, MaxNe)
	}
	out := make([]byte, 0, headerSize+3+nc+2)
	out = append(out, c.CLA, c.INS, c.P1, c.P2)
	if !c.Extended && nc <= MaxShortNc && c.Ne <= MaxShortNe {
		if nc > 0 {
			out = append(out, byte(nc))
			out = append(out, c.Data...)
		}
		if c.Ne > 0 {
			out = append(out, byte(c.Ne)) // 256 → 00
		}
		return out, nil
	}
	if nc == 0 && c.Ne == 0 {
		return out, nil // case 1 has no extended form
	}
	out = append(out, 0)
	if nc > 0 {
		out = binary.BigEndian.AppendUint16(out, uint16(nc))
		out = append(out, c.Data...)
	}
	if c.Ne > 0 {
		out = binary.BigEndian.AppendUint16(out, uint16(c.Ne)) // 65536 → 0000
	}
	return out, nil
}

// Response is one response APDU: the data field and SW1-SW2.
type Response struct {
	Data []byte
	SW   SW
}

// ParseResponse decodes a response APDU (ISO/IEC 7816-4:2020 §5.3): at
// least SW1-SW2, at most MaxResponseSize bytes, SW1 a valid first status
// byte ('6X' or '9X', §5.6). Data is a copy.
func ParseResponse(b []byte) (Response, error) {
	if len(b) < 2 {
		return Response{}, perr(ErrTooShort, "response of %d bytes, need SW1-SW2", len(b))
	}
	if len(b) > MaxResponseSize {
		return Response{}, perr(ErrTooLong, "response of %d bytes, at most %d", len(b), MaxResponseSize)
	}
	sw := SW(binary.BigEndian.Uint16(b[len(b)-2:]))
	if !sw.Valid() {
		return Response{}, perr(ErrLength, "SW1 %02X is not a status byte (ISO/IEC 7816-4 §5.6)", byte(sw>>8))
	}
	var data []byte
	if len(b) > 2 {
		data = append([]byte(nil), b[:len(b)-2]...)
	}
	return Response{Data: data, SW: sw}, nil
}

// Marshal returns data ‖ SW1 ‖ SW2.
func (r Response) Marshal() []byte {
	out := make([]byte, 0, len(r.Data)+2)
	out = append(out, r.Data...)
	return binary.BigEndian.AppendUint16(out, uint16(r.SW))
}
