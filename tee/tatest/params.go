package tatest

import "github.com/fpemu/fpemu/tee/rpc"

// ParamVariants are the two ways a TA's BenchmarkBorrowedParams serves it
// (WithParams). Run one after the other in each round (-count), "owned" is
// the floor of "borrowed" in the same run (docs/benchmarks.md).
var ParamVariants = []string{"owned", "borrowed"}

// WithParams returns ta as variant serves it. "borrowed" is ta itself: its
// memrefs are lent from the host's pooled buffers when it declares so
// (rpc.ParamBorrower; valid only during the entry point, GPD_SPE_010
// §4.9). "owned" is ta as before it borrowed them — the host copies every
// input memref into bytes the TA owns — with its command names
// (rpc.CommandNamer) and blocking commands (rpc.BlockingCommands) kept,
// so that only the memrefs differ.
func WithParams(ta rpc.TA, variant string) rpc.TA {
	if variant == "owned" {
		return ownedParams{ta}
	}
	return ta
}

// ownedParams is a TA whose memrefs the host copies (WithParams).
type ownedParams struct{ rpc.TA }

func (ownedParams) BorrowsParams() bool { return false }

// CommandName implements rpc.CommandNamer as the TA does, if it does.
func (o ownedParams) CommandName(cmd uint32) (string, bool) {
	if n, ok := o.TA.(rpc.CommandNamer); ok {
		return n.CommandName(cmd)
	}
	return "", false
}

// MayBlock implements rpc.BlockingCommands as the TA does, if it does.
func (o ownedParams) MayBlock(cmd uint32) bool {
	b, ok := o.TA.(rpc.BlockingCommands)
	return ok && b.MayBlock(cmd)
}

var (
	_ rpc.ParamBorrower    = ownedParams{}
	_ rpc.CommandNamer     = ownedParams{}
	_ rpc.BlockingCommands = ownedParams{}
)
