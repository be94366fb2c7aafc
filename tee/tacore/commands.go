package tacore

import (
	"context"
	"fmt"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// Commands is the rpc.TA face of a TA whose sessions take no parameters
// and keep nothing that needs closing. Embedded in the TA, it is the TA's
// OpenSession (TA_OpenSessionEntryPoint, GPD_SPE_010 §4.6) and CommandName
// (rpc.CommandNamer), both served by the TA's command table; the TA keeps
// only its table, its handlers and what a session holds (S).
//
// Commands does not implement rpc.ParamBorrower: whether memrefs may be
// lent from the host's pooled buffers (valid only during the entry point,
// GPD_SPE_010 §4.9) depends on what the TA's handlers keep, so each TA
// declares BorrowsParams itself once its handlers are audited; embedding
// Commands never opts a new TA in.
type Commands[S any, C rpc.Code] struct {
	mux     *rpc.Mux[S, C]
	session func(ctx context.Context) S
}

// NewCommands builds the command table of the TA named ta (rpc.NewMux)
// and the Commands that serve it. session returns the receiver of a new
// session's handlers; it gets the context OpenSession got, which carries
// the client identity the host established (rpc.ClientFrom). An unusable
// table is an error wrapping ErrConfig and rpc.ErrMux.
func NewCommands[S any, C rpc.Code](ta string, table map[C]rpc.Route[S], session func(ctx context.Context) S) (Commands[S, C], error) {
	mux, err := rpc.NewMux(ta, table)
	if err != nil {
		return Commands[S, C]{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return Commands[S, C]{mux: mux, session: session}, nil
}

// OpenSession implements rpc.TA: a session takes no parameters
// (TEEC_ERROR_BAD_PARAMETERS otherwise) and runs the command table with the
// receiver session(ctx) (OpenSession, Session).
func (c Commands[S, C]) OpenSession(ctx context.Context, p *tee.Params) (rpc.TASession, error) {
	return OpenSession(c.mux, c.session(ctx), p)
}

// CommandName implements rpc.CommandNamer: the host's log names commands.
func (c Commands[S, C]) CommandName(cmd uint32) (string, bool) { return c.mux.CommandName(cmd) }

// MayBlock implements rpc.BlockingCommands: the host hands reading on
// before a command the table marks Blocks.
func (c Commands[S, C]) MayBlock(cmd uint32) bool { return c.mux.MayBlock(cmd) }
