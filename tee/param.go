package tee

import "fmt"

// ParamType is a TEEC parameter type (GPD_SPE_007 §4.5.4). fpemu carries
// values and temporary memory references; registered shared memory
// (TEEC_MEMREF_WHOLE/PARTIAL_*) has no meaning across a socket and is
// rejected by the wire codec with TEEC_ERROR_BAD_FORMAT.
type ParamType uint8

// TEEC parameter types.
const (
	ParamNone         ParamType = 0x0 // TEEC_NONE
	ParamValueInput   ParamType = 0x1 // TEEC_VALUE_INPUT
	ParamValueOutput  ParamType = 0x2 // TEEC_VALUE_OUTPUT
	ParamValueInout   ParamType = 0x3 // TEEC_VALUE_INOUT
	ParamMemrefInput  ParamType = 0x5 // TEEC_MEMREF_TEMP_INPUT
	ParamMemrefOutput ParamType = 0x6 // TEEC_MEMREF_TEMP_OUTPUT
	ParamMemrefInout  ParamType = 0x7 // TEEC_MEMREF_TEMP_INOUT
)

// Valid reports whether t is one of the types fpemu carries.
func (t ParamType) Valid() bool {
	switch t {
	case ParamNone, ParamValueInput, ParamValueOutput, ParamValueInout,
		ParamMemrefInput, ParamMemrefOutput, ParamMemrefInout:
		return true
	}
	return false
}

// IsValue reports whether t is a VALUE_* type.
func (t ParamType) IsValue() bool { return t >= ParamValueInput && t <= ParamValueInout }

// IsMemref reports whether t is a MEMREF_TEMP_* type.
func (t ParamType) IsMemref() bool { return t >= ParamMemrefInput && t <= ParamMemrefInout }

// IsInput reports whether the CA sends data for t to the TA.
func (t ParamType) IsInput() bool {
	return t == ParamValueInput || t == ParamValueInout || t == ParamMemrefInput || t == ParamMemrefInout
}

// IsOutput reports whether the TA returns data for t to the CA.
func (t ParamType) IsOutput() bool {
	return t == ParamValueOutput || t == ParamValueInout || t == ParamMemrefOutput || t == ParamMemrefInout
}

func (t ParamType) String() string {
	switch t {
	case ParamNone:
		return "TEEC_NONE"
	case ParamValueInput:
		return "TEEC_VALUE_INPUT"
	case ParamValueOutput:
		return "TEEC_VALUE_OUTPUT"
	case ParamValueInout:
		return "TEEC_VALUE_INOUT"
	case ParamMemrefInput:
		return "TEEC_MEMREF_TEMP_INPUT"
	case ParamMemrefOutput:
		return "TEEC_MEMREF_TEMP_OUTPUT"
	case ParamMemrefInout:
		return "TEEC_MEMREF_TEMP_INOUT"
	}
	return fmt.Sprintf("param_type(0x%X)", uint8(t))
}

// Param is one of the four operation parameters.
//
// For VALUE_* types A and B carry the value. For MEMREF_* types Data holds
// the bytes and Size the buffer size in the GP sense: for an input memref
// Size == len(Data); for an output or inout memref the CA sets Size to the
// capacity of its buffer, and after the call Size is the number of bytes
// the TA produced — which, with TEEC_ERROR_SHORT_BUFFER, is the size the CA
// must offer next time (GPD_SPE_007 §4.5.5 TEEC_TempMemoryReference).
type Param struct {
	Type ParamType
	A, B uint32
	Data []byte
	Size uint32
}

// Params are the four parameters of one OpenSession or InvokeCommand.
type Params [4]Param

// Value returns a VALUE_INPUT parameter.
func Value(a, b uint32) Param { return Param{Type: ParamValueInput, A: a, B: b} }

// ValueOut returns an empty VALUE_OUTPUT parameter.
func ValueOut() Param { return Param{Type: ParamValueOutput} }

// ValueInout returns a VALUE_INOUT parameter.
func ValueInout(a, b uint32) Param { return Param{Type: ParamValueInout, A: a, B: b} }

// MemrefIn returns a MEMREF_TEMP_INPUT parameter over b.
func MemrefIn(b []byte) Param {
	return Param{Type: ParamMemrefInput, Data: b, Size: uint32(len(b))}
}

// MemrefOut returns a MEMREF_TEMP_OUTPUT parameter offering capacity bytes.
func MemrefOut(capacity uint32) Param { return Param{Type: ParamMemrefOutput, Size: capacity} }

// MemrefInout returns a MEMREF_TEMP_INOUT parameter carrying b in a buffer
// of the given capacity (at least len(b)).
func MemrefInout(b []byte, capacity uint32) Param {
	if capacity < uint32(len(b)) {
		capacity = uint32(len(b))
	}
	return Param{Type: ParamMemrefInout, Data: b, Size: capacity}
}

// Types returns the four parameter types, the TEEC paramTypes of the call.
func (p *Params) Types() [4]ParamType {
	return [4]ParamType{p[0].Type, p[1].Type, p[2].Type, p[3].Type}
}

// Expect checks the parameter types exactly, the way GP TAs compare
// paramTypes against TEE_PARAM_TYPES(...) on entry (GPD_SPE_010 §4.3). Missing
// trailing types are ParamNone. A mismatch is TEEC_ERROR_BAD_PARAMETERS.
func (p *Params) Expect(types ...ParamType) error {
	var want [4]ParamType
	if len(types) > 4 {
		return Errorf(ResultBadParameters, OriginTrustedApp, "more than 4 parameter types expected")
	}
	copy(want[:], types)
	if got := p.Types(); got != want {
		return Errorf(ResultBadParameters, OriginTrustedApp, "parameter types %v, want %v", got, want)
	}
	return nil
}

// SetOutput stores b as the output of memref parameter i. The host applies
// the short-buffer rule when the response is encoded: if len(b) exceeds the
// capacity the CA offered, the call fails with TEEC_ERROR_SHORT_BUFFER and
// Size reports len(b).
func (p *Params) SetOutput(i int, b []byte) {
	p[i].Data = b
}

// NeedCapacity is the check a TA makes before a command changes any state
// whose output could then not be delivered: when memref parameter i offers
// fewer than n bytes, Size becomes n (the size the CA must offer) and the
// command fails with TEEC_ERROR_SHORT_BUFFER, origin TEEC_ORIGIN_TRUSTED_APP,
// "<what> needs n bytes".
func (p *Params) NeedCapacity(i, n int, what string) error {
	if int(p[i].Size) < n {
		p[i].Size = uint32(n)
		return Errorf(ResultShortBuffer, OriginTrustedApp, "%s needs %d bytes", what, n)
	}
	return nil
}

// SetValue stores a value output for parameter i.
func (p *Params) SetValue(i int, a, b uint32) {
	p[i].A, p[i].B = a, b
}
