package tee

import "strconv"

// CommandName is the String of a TA's command code type (the commandID of
// TEEC_InvokeCommand, GPD_SPE_007 §4.5.9): names[c], the name
// docs/protocol.md gives command c, or "<ta>_command(0x…)" for a code
// names does not hold. Each TA's protocol package keeps its own names
// table and numbering; the naming rule is this one.
func CommandName[C ~uint32](ta string, names map[C]string, c C) string {
	if n, ok := names[c]; ok {
		return n
	}
	return ta + "_command(0x" + strconv.FormatUint(uint64(c), 16) + ")"
}
