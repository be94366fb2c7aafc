package tee

import "strings"

// ParamTypes is the parameter layout of a command: the four TEEC parameter
// types a client packs with TEEC_PARAM_TYPES(t0, t1, t2, t3) (GPD_SPE_007
// §4.5.4) and a TA compares against TEE_PARAM_TYPES(...) on entry
// (GPD_SPE_010 §4.3). Unused trailing parameters are ParamNone, the zero
// value, so a literal lists only the types a command uses.
type ParamTypes [4]ParamType

// String lists the types, trailing TEEC_NONEs left out, the way
// docs/protocol.md writes a command's parameters: "TEEC_VALUE_INOUT,
// TEEC_MEMREF_TEMP_INPUT". A layout of four NONEs is "TEEC_NONE".
func (t ParamTypes) String() string {
	n := len(t)
	for n > 1 && t[n-1] == ParamNone {
		n--
	}
	s := make([]string, n)
	for i := range n {
		s[i] = t[i].String()
	}
	return strings.Join(s, ", ")
}

// Check compares p's types with t exactly, as Params.Expect does: a
// mismatch is TEEC_ERROR_BAD_PARAMETERS with origin TEEC_ORIGIN_TRUSTED_APP.
func (t ParamTypes) Check(p *Params) error { return p.Expect(t[:]...) }
