package channel

import (
	"fmt"
	"io"

	"github.com/fpemu/fpemu/channel/chanwire"
)

// clientState is the device side's position in the handshake.
type clientState int

const (
	clientNew         clientState = iota // Open not called yet
	clientWaitServer                     // gm/gm-fs: ClientHello sent, ServerHello expected; optee-rsa: RSAHello sent, RSAResponse expected
	clientEstablished                    // last handshake message returned; records flow
)

// Client is the device side of the channel, a state machine driven by
// bytes (crypto/tls style: one struct, ordered steps):
//
//	Open()            → first handshake message
//	Continue(msg)     → next handshake message, established
//	Seal(app)         → record
//	OpenRecord(rec)   → application message
//
// It does no I/O, so the payment TA can host it behind its TA commands.
// A Client is not safe for concurrent use. After any error it is dead
// (ErrDead) and holds no secret.
type Client struct {
	endpoint
	cfg   ClientConfig
	state clientState
	sm2   *sm2ClientHS
	rsa   *rsaClientHS
}

// NewClient checks cfg and returns a Client ready to Open.
func NewClient(cfg ClientConfig) (*Client, error) {
	c, err := cfg.normalized()
	if err != nil {
		return nil, err
	}
	return &Client{cfg: c}, nil
}

// Profile is the profile this client proposes.
func (c *Client) Profile() chanwire.Profile { return c.cfg.Profile }

// Open starts the handshake and returns the first message to send
// (ClientHello or RSAHello). Calling it twice is ErrUnexpectedMessage.
func (c *Client) Open() ([]byte, error) {
	if err := c.alive(); err != nil {
		return nil, err
	}
	if c.state != clientNew {
		return nil, c.fail(fmt.Errorf("%w: Open called twice", ErrUnexpectedMessage))
	}
	var out []byte
	var err error
	if c.cfg.Profile == chanwire.ProfileOpteeRSA {
		c.rsa, out, err = rsaClientHello(&c.cfg)
	} else {
		c.sm2, out, err = sm2ClientHello(&c.cfg)
	}
	if err != nil {
		return nil, c.fail(err)
	}
	c.state = clientWaitServer
	return out, nil
}

// Continue consumes the server's handshake message and returns the
// device's next one; established is true once the channel is up (the
// returned message must still be sent: it carries the device's
// confirmation and Finished). Any message in any other state is
// ErrUnexpectedMessage.
func (c *Client) Continue(msg []byte) (out []byte, established bool, err error) {
	if err := c.alive(); err != nil {
		return nil, false, err
	}
	if c.state != clientWaitServer {
		return nil, false, c.fail(fmt.Errorf("%w: no handshake message expected", ErrUnexpectedMessage))
	}
	if err := checkProfile(msg, c.cfg.Profile); err != nil {
		return nil, false, c.fail(err)
	}
	var sess *session
	if c.rsa != nil {
		out, sess, err = c.rsa.response(&c.cfg, msg)
	} else {
		out, sess, err = c.sm2.serverHello(&c.cfg, msg)
	}
	c.sm2, c.rsa = nil, nil
	if err != nil {
		return nil, false, c.fail(err)
	}
	c.sess = sess
	c.state = clientEstablished
	return out, true, nil
}

// checkProfile rejects a message whose header names another profile than
// the handshake's (ErrProfile) before it is parsed further.
func checkProfile(msg []byte, p chanwire.Profile) error {
	h, err := chanwire.ParseHeader(msg)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if h.Profile != p {
		return fmt.Errorf("%w: %s message in a %s handshake", ErrProfile, h.Profile, p)
	}
	return nil
}

func random32(r io.Reader) ([chanwire.RandomSize]byte, error) {
	var b [chanwire.RandomSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return b, fmt.Errorf("%w: randomness: %v", ErrConfig, err)
	}
	return b, nil
}

// fail also forgets the pending handshake.
func (c *Client) fail(err error) error {
	c.sm2, c.rsa = nil, nil
	return c.endpoint.fail(err)
}
