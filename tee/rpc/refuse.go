package rpc

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/tee"
	"github.com/fpemu/fpemu/tee/wire"
)

// refuse answers a connection over the cap: its first request gets
// TEEC_ERROR_BUSY (origin TEE, GPD_SPE_007 §4.4.2: "the system is busy
// working on something else") and the connection is closed. At most
// maxRefusing connections are refused this politely at once, each for at
// most refuseTimeout; beyond that they are closed without an answer.
// s.mu is held.
func (s *Server) refuse(nc net.Conn) {
	s.logRefused()
	if s.refusing.Add(1) > maxRefusing {
		s.refusing.Add(-1)
		nc.Close()
		return
	}
	go func() {
		defer s.refusing.Add(-1)
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(refuseTimeout))
		var hdr [wire.HeaderLen]byte
		if _, err := io.ReadFull(nc, hdr[:]); err != nil {
			return
		}
		n, err := wire.FrameLen(hdr[:])
		if err != nil {
			return // unframeable: closed without a response, as §1.8 says
		}
		if rest := int64(n - wire.HeaderLen); rest <= refuseReadMax {
			// Read the whole request, so the client is not reset while
			// it still writes it and reads the answer.
			if _, err := io.CopyN(io.Discard, nc, rest); err != nil {
				return
			}
		}
		var mu sync.Mutex
		_ = writeFrame(&mu, nc, &wire.Frame{
			Op: wire.OpResponse, RequestID: binary.BigEndian.Uint32(hdr[8:]),
			Result: tee.ResultBusy, Origin: tee.OriginTEE,
		})
	}()
}

// logRefused logs refused connections at most once a second, with how
// many were refused since the last line.
func (s *Server) logRefused() {
	s.refusedSince++
	if now := time.Now(); now.Sub(s.refusedLogged) >= time.Second {
		s.log.Warn("connection cap reached, refusing connections with TEEC_ERROR_BUSY",
			zap.Int("max_conns", s.maxConns), zap.Int("refused", s.refusedSince))
		s.refusedLogged, s.refusedSince = now, 0
	}
}
