package rpc

import (
	"go.uber.org/zap"

	"github.com/fpemu/fpemu/tee/wire"
)

// commandField is the "name" field of the host's per-command log line: the
// command's name when op is INVOKE and the TA is a CommandNamer that knows
// the command, else nothing. The number stays in "cmd" either way, so a
// log reader keyed on it keeps working.
func (s *Server) commandField(op wire.Op, cmd uint32) zap.Field {
	if op != wire.OpInvoke {
		return zap.Skip()
	}
	n, ok := s.ta.(CommandNamer)
	if !ok {
		return zap.Skip()
	}
	name, ok := n.CommandName(cmd)
	if !ok {
		return zap.Skip()
	}
	return zap.String("name", name)
}
