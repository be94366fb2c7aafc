package tacore

import (
	"context"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/rpc"
)

// Session is the rpc.TASession of a TA whose sessions keep nothing that
// needs closing: Invoke runs the TA's command table with the session's
// receiver S (the value its handlers are methods of) and maps the result
// with TEEError, Close does nothing. A handler may return its errors as
// they are or already mapped: TEEError keeps a *tee.Error's code.
type Session[S any, C rpc.Code] struct {
	mux *rpc.Mux[S, C]
	s   S
}

// OpenSession is the TA_OpenSessionEntryPoint of such a TA (GPD_SPE_010
// §4.6): it takes no parameters (TEEC_ERROR_BAD_PARAMETERS otherwise) and
// returns a Session that runs mux with s.
func OpenSession[S any, C rpc.Code](mux *rpc.Mux[S, C], s S, p *tee.Params) (rpc.TASession, error) {
	if err := p.Expect(); err != nil {
		return nil, err
	}
	return Session[S, C]{mux: mux, s: s}, nil
}

// Invoke implements rpc.TASession through the command table.
func (s Session[S, C]) Invoke(ctx context.Context, cmd uint32, p *tee.Params) error {
	return TEEError(s.mux.Invoke(ctx, s.s, cmd, p))
}

// Close implements rpc.TASession.
func (Session[S, C]) Close() {}
