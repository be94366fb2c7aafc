package rpc

import (
	"sync"
	"time"

	"github.com/fpemu/fpemu/tee/wire"
)

// ParamBorrower is implemented by a TA (the rpc.TA given to NewServer)
// whose entry points never keep a memref's Data, nor anything sharing its
// memory, after they return: the rule of the GP TEE Internal Core API for
// TA_OpenSessionEntryPoint and TA_InvokeCommandEntryPoint (GPD_SPE_010
// §4.9), whose memory references are valid only during the call. Its host
// then decodes each request's memref bytes into a pooled buffer that it
// reuses once the command is answered, instead of allocating them per
// command. Output bytes a TA sets with SetOutput are its own and are never
// pooled. A TA that does not implement it (or returns false) gets memrefs
// it owns, as before.
type ParamBorrower interface {
	BorrowsParams() bool
}

// request is one request frame from decoding to its answer: the decoded
// frame, the response, and, for a ParamBorrower TA, the pooled arena its
// memrefs point into. Requests are pooled per process; a request is
// released (and its arena poisoned under -race) only after its response
// has been written, and a released request is unreachable from the TA,
// the session and the connection.
type request struct {
	f     wire.Frame
	resp  wire.Frame
	arena []byte // memref bytes of f (ParamBorrower TAs only)
	start time.Time
	s     *session       // INVOKE, CLOSE_SESSION
	id    ClientIdentity // OPEN_SESSION
}

// mayBlock reports whether r is an INVOKE of a command the TA says may
// wait for long (BlockingCommands).
func (s *Server) mayBlock(r *request) bool {
	return s.blocking != nil && r.f.Op == wire.OpInvoke && s.blocking.MayBlock(r.f.Command)
}

// keepArenaLen bounds the arena a pooled request keeps: that of a frame in
// a connection's own buffer (ownBufLen). A larger frame's arena is
// allocated for it and dropped with it, so pooling never holds more than
// the limits of docs/protocol.md §1.6 already allow: one own-buffer-sized
// arena per command running or pooled request.
const keepArenaLen = ownBufLen

var requestPool = sync.Pool{New: func() any { return new(request) }}

func getRequest() *request { return requestPool.Get().(*request) }

// putRequest returns r to the pool once its response is written. Its
// arena is kept only up to keepArenaLen; under the race detector it is
// overwritten first, so a TA that keeps a borrowed memref sees garbage in
// tests.
func putRequest(r *request) {
	arena := r.arena
	if cap(arena) > keepArenaLen {
		arena = nil
	}
	if poisonArenas {
		full := arena[:cap(arena)]
		for i := range full {
			full[i] = 0xA5
		}
	}
	*r = request{arena: arena[:0]}
	requestPool.Put(r)
}
