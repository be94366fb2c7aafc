package channel

import (
	"fmt"

	"github.com/fpemu/fpemu/channel/chanwire"
)

type serverState int

const (
	serverWaitHello serverState = iota
	serverWaitFinish
	serverEstablished
)

// Server is the server side of the channel for one connection, driven by
// bytes like Client:
//
//	Handle(msg)       → reply (may be nil), established
//	Seal(app)         → record
//	OpenRecord(rec)   → application message
//
// Not safe for concurrent use; dead after any error.
type Server struct {
	endpoint
	cfg     ServerConfig
	state   serverState
	profile chanwire.Profile
	sm2     *sm2ServerHS
	rsa     *rsaServerHS
}

// NewServer checks cfg and returns a Server waiting for a first message.
func NewServer(cfg ServerConfig) (*Server, error) {
	c, err := cfg.normalized()
	if err != nil {
		return nil, err
	}
	return &Server{cfg: c}, nil
}

// Profile is the handshake's profile (0 before the first message).
func (s *Server) Profile() chanwire.Profile { return s.profile }

// Handle consumes one handshake message from the device and returns the
// reply to send (nil when there is none: after the last message) and
// whether the channel is established. The first message fixes the
// profile: it must be one the server accepts (ErrProfile) and, for the
// SM2 profiles, the best one both sides offer (ErrDowngrade).
func (s *Server) Handle(msg []byte) (out []byte, established bool, err error) {
	if err := s.alive(); err != nil {
		return nil, false, err
	}
	switch s.state {
	case serverWaitHello:
		h, err := chanwire.ParseHeader(msg)
		if err != nil {
			return nil, false, s.fail(fmt.Errorf("%w: %w", ErrMalformed, err))
		}
		if !s.cfg.accepts(h.Profile) {
			return nil, false, s.fail(fmt.Errorf("%w: %s", ErrProfile, h.Profile))
		}
		s.profile = h.Profile
		if h.Profile == chanwire.ProfileOpteeRSA {
			s.rsa, out, err = rsaServerHello(&s.cfg, msg)
		} else {
			s.sm2, out, err = sm2ServerHello(&s.cfg, msg)
		}
		if err != nil {
			return nil, false, s.fail(err)
		}
		s.state = serverWaitFinish
		return out, false, nil
	case serverWaitFinish:
		if err := checkProfile(msg, s.profile); err != nil {
			return nil, false, s.fail(err)
		}
		var sess *session
		if s.rsa != nil {
			sess, err = s.rsa.confirm(&s.cfg, msg)
		} else {
			sess, err = s.sm2.clientFinished(&s.cfg, msg)
		}
		s.sm2, s.rsa = nil, nil
		if err != nil {
			return nil, false, s.fail(err)
		}
		s.sess = sess
		s.state = serverEstablished
		return nil, true, nil
	default:
		return nil, false, s.fail(fmt.Errorf("%w: handshake already finished", ErrUnexpectedMessage))
	}
}

// fail also forgets the pending handshake.
func (s *Server) fail(err error) error {
	s.sm2, s.rsa = nil, nil
	return s.endpoint.fail(err)
}
