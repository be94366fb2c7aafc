package rpc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/fpemu/fpemu/tee"
)

// Code is the type of one TA's command codes: the commandID of
// TEEC_InvokeCommand (GPD_SPE_007 §4.5.9), a uint32 on the wire, typed per
// TA because every TA numbers its own commands (Gatekeeper's 1 is VERIFY,
// another TA's 1 is something else), and named by String — the name
// docs/protocol.md gives the command ("VERIFY"). A TA's protocol package
// declares it, e.g. `type Command uint32` with a String method.
type Code interface {
	~uint32
	String() string
}

// Route is one command of a TA's command table: the parameter layout the
// command takes (checked before the handler runs) and the handler. The
// handler gets the session it runs on first, so that a method expression
// (session.verify) is a Handler.
type Route[S any] struct {
	Params  tee.ParamTypes
	Handler func(s S, ctx context.Context, p *tee.Params) error
	// Blocks marks a command that may wait for long — a long poll such as
	// the fingerprint TA's NEXT_EVENT. The host hands the connection's
	// reading role to another goroutine before running it (BlockingCommands),
	// so a command for another session on the same connection is read at
	// once instead of after the watchdog's next look (handoff.go).
	Blocks bool
}

// Mux is a TA's command table: command code → {name, parameter layout,
// handler}. It is the one place a TA's InvokeCommand entry point
// (TA_InvokeCommandEntryPoint, GPD_SPE_010 §4.9) decides what a command is,
// so every TA answers the same way:
//
//   - an unknown command is TEEC_ERROR_NOT_SUPPORTED, origin
//     TEEC_ORIGIN_TRUSTED_APP (docs/protocol.md §1.7) — GP's answer for a
//     command the TA does not offer, as OP-TEE's TAs give it;
//   - parameter types other than the command's layout are
//     TEEC_ERROR_BAD_PARAMETERS, origin TEEC_ORIGIN_TRUSTED_APP, before the
//     handler runs (the TEE_PARAM_TYPES check of GPD_SPE_010 §4.3);
//   - the host's per-command log line names the command (CommandName).
//
// S is the TA's session type; C its command code type. A Mux is immutable
// once built and safe for concurrent use.
type Mux[S any, C Code] struct {
	ta     string
	routes map[C]Route[S]
}

// CommandNamer is implemented by a TA (the rpc.TA given to NewServer) that
// can name its commands; the host then adds the name to its "command" log
// line as "name". A *Mux is a CommandNamer; a TA usually implements it by
// delegating to its Mux.
type CommandNamer interface {
	// CommandName returns the name of command cmd, and false for a command
	// the TA does not have.
	CommandName(cmd uint32) (string, bool)
}

// BlockingCommands is implemented by a TA (the rpc.TA given to NewServer)
// that knows which of its commands may wait for long; a *Mux is one (its
// routes' Blocks), and a TA usually implements it by delegating to its Mux.
// Before running such a command the host hands the connection's reading
// role on, so that the connection's other sessions are served while it
// waits.
type BlockingCommands interface {
	// MayBlock reports whether command cmd may wait for long.
	MayBlock(cmd uint32) bool
}

// ErrMux reports an unusable command table given to NewMux.
var ErrMux = errors.New("rpc: bad command table")

// NewMux builds the command table of the TA named ta (the prefix of its
// error details, e.g. "gatekeeper"). Every route needs a handler and a
// layout of valid parameter types, and every command a name.
func NewMux[S any, C Code](ta string, routes map[C]Route[S]) (*Mux[S, C], error) {
	m := &Mux[S, C]{ta: ta, routes: make(map[C]Route[S], len(routes))}
	for c, r := range routes {
		if r.Handler == nil {
			return nil, fmt.Errorf("%w: %s: command %s has no handler", ErrMux, ta, c)
		}
		if c.String() == "" {
			return nil, fmt.Errorf("%w: %s: command 0x%x has no name", ErrMux, ta, uint32(c))
		}
		for i, t := range r.Params {
			if !t.Valid() {
				return nil, fmt.Errorf("%w: %s: command %s: parameter %d: %v", ErrMux, ta, c, i, t)
			}
		}
		m.routes[c] = r
	}
	return m, nil
}

// Invoke runs command cmd of session s: the unknown-command and
// parameter-type checks of the Mux doc, then the command's handler. A
// TASession's Invoke is `return mux.Invoke(ctx, s, cmd, p)`.
func (m *Mux[S, C]) Invoke(ctx context.Context, s S, cmd uint32, p *tee.Params) error {
	r, ok := m.routes[C(cmd)]
	if !ok {
		return tee.Errorf(tee.ResultNotSupported, tee.OriginTrustedApp, "%s: unknown command 0x%x", m.ta, cmd)
	}
	if err := r.Params.Check(p); err != nil {
		return err
	}
	return r.Handler(s, ctx, p)
}

// CommandName implements CommandNamer.
func (m *Mux[S, C]) CommandName(cmd uint32) (string, bool) {
	if _, ok := m.routes[C(cmd)]; !ok {
		return "", false
	}
	return C(cmd).String(), true
}

// MayBlock implements BlockingCommands: the route's Blocks.
func (m *Mux[S, C]) MayBlock(cmd uint32) bool { return m.routes[C(cmd)].Blocks }

// CommandSpec describes one command of a table: what docs/protocol.md
// lists for it.
type CommandSpec struct {
	Code   uint32
	Name   string
	Params tee.ParamTypes
}

// Commands lists the table, ordered by code, so that a test can hold it
// against docs/protocol.md.
func (m *Mux[S, C]) Commands() []CommandSpec {
	out := make([]CommandSpec, 0, len(m.routes))
	for c, r := range m.routes {
		out = append(out, CommandSpec{Code: uint32(c), Name: c.String(), Params: r.Params})
	}
	slices.SortFunc(out, func(a, b CommandSpec) int { return cmp.Compare(a.Code, b.Code) })
	return out
}
