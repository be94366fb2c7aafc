package apdu

import "fmt"

// SW is a status word SW1-SW2 (ISO/IEC 7816-4:2020 §5.6).
type SW uint16

// The status words the shield answers, named and numbered as ISO/IEC
// 7816-4:2020 §5.6 Tables 5 and 6 give them.
const (
	SWOK                     SW = 0x9000 // normal processing
	SWBytesRemaining         SW = 0x6100 // 61XX: XX more bytes (GET RESPONSE)
	SWVerifyFailed           SW = 0x63C0 // 63CX: verification failed, X further tries
	SWMemoryFailure          SW = 0x6581 // memory failure
	SWWrongLength            SW = 0x6700 // wrong length
	SWLastCommandExpected    SW = 0x6883 // last command of the chain expected
	SWSecurityNotSatisfied   SW = 0x6982 // security status not satisfied
	SWAuthMethodBlocked      SW = 0x6983 // authentication method blocked
	SWReferenceDataNotUsable SW = 0x6984 // reference data not usable
	SWConditionsNotSatisfied SW = 0x6985 // conditions of use not satisfied
	SWWrongData              SW = 0x6A80 // incorrect parameters in the command data field
	SWFunctionNotSupported   SW = 0x6A81 // function not supported
	SWFileNotFound           SW = 0x6A82 // file or application not found
	SWNotEnoughMemory        SW = 0x6A84 // not enough memory space in the file
	SWIncorrectP1P2          SW = 0x6A86 // incorrect parameters P1-P2
	SWReferencedDataNotFound SW = 0x6A88 // referenced data or reference data not found
	SWWrongLe                SW = 0x6C00 // 6CXX: wrong Le field, XX is the exact length
	SWINSNotSupported        SW = 0x6D00 // instruction code not supported or invalid
	SWCLANotSupported        SW = 0x6E00 // class not supported
	SWUnknown                SW = 0x6F00 // no precise diagnosis
)

// VerifyFailed returns 63CX for x further tries (x is clamped to 0..15).
func VerifyFailed(x int) SW {
	x = max(0, min(x, 15))
	return SWVerifyFailed | SW(x)
}

// BytesRemaining returns 61XX for n more bytes (n ≥ 256 is 6100).
func BytesRemaining(n int) SW {
	if n >= 256 || n <= 0 {
		return SWBytesRemaining
	}
	return SWBytesRemaining | SW(n)
}

// SW1 and SW2 return the two bytes.
func (s SW) SW1() byte { return byte(s >> 8) }

// SW2 returns the second status byte.
func (s SW) SW2() byte { return byte(s) }

// Valid reports whether SW1 is '6X' (other than '60') or '9X', the only
// values ISO/IEC 7816-4:2020 §5.6 allows.
func (s SW) Valid() bool {
	hi := s.SW1() & 0xF0
	return (hi == 0x60 && s.SW1() != 0x60) || hi == 0x90
}

// Tries returns X of a 63CX status word and whether s is one.
func (s SW) Tries() (int, bool) {
	if s&0xFFF0 != SWVerifyFailed {
		return 0, false
	}
	return int(s & 0x0F), true
}

// String returns the hex form, e.g. "63C5".
func (s SW) String() string { return fmt.Sprintf("%04X", uint16(s)) }
