package rpc

import "context"

// reserveSession counts one more session TA-wide, or reports false at
// the TA-wide limit (WithMaxTotalSessions).
func (s *Server) reserveSession() bool {
	if s.sessions.Add(1) > int64(s.maxTotalSessions) {
		s.sessions.Add(-1)
		return false
	}
	return true
}

type connIDKey struct{}

func withConnID(ctx context.Context, id uint64) context.Context {
	return context.WithValue(ctx, connIDKey{}, id)
}

// ConnID returns the host's number for the client connection a TA entry
// point runs for (unique for the Server's life, never 0), or 0 outside a
// host. A TA uses it to share a resource fairly between client
// connections; it identifies a connection, not who is behind it.
func ConnID(ctx context.Context) uint64 {
	id, _ := ctx.Value(connIDKey{}).(uint64)
	return id
}
