package channel

import (
	"crypto/rand"
	"fmt"
	"io"
	"time"

	"github.com/emmansun/gmsm/smx509"

	"github.com/fpemu/fpemu/channel/chanwire"
)

// DefaultProfile is the profile a Client proposes when its Config names
// none.
const DefaultProfile = chanwire.ProfileGMFS

// ClientConfig configures the device side.
type ClientConfig struct {
	// Profile is the profile the device proposes (default gm-fs). A device
	// falls back to another only by its own policy, never because a peer
	// asked (docs/protocol.md §11.8).
	Profile chanwire.Profile
	// Offered lists every profile the device would accept, strongest
	// first; it must contain Profile (default: just Profile). gm-fs signs
	// it inside the transcript, so the server can refuse a downgrade.
	Offered []chanwire.Profile
	// Rand is the randomness source (default crypto/rand).
	Rand io.Reader
	// Now is the clock for certificate validity (default time.Now).
	Now func() time.Time

	// SM2 profiles: the device's dual certificates and keys, the trust
	// anchors for the server's certificates, and the server's expected
	// name (the Subject CommonName of its signing certificate).
	Credentials *SM2Credentials
	Roots       *smx509.CertPool
	ServerName  string

	// optee-rsa: the device's RSA key and the pinned server key.
	RSA *RSAClientKeys
}

// ServerConfig configures the server side.
type ServerConfig struct {
	// Profiles lists the profiles the server accepts, strongest first
	// (default: gm-fs only).
	Profiles []chanwire.Profile
	Rand     io.Reader
	Now      func() time.Time

	// SM2 profiles: the server's dual certificates and keys, the trust
	// anchors of device certificates, and an optional registry check of
	// the verified device certificates (ErrIdentity if it fails).
	Credentials  *SM2Credentials
	Roots        *smx509.CertPool
	VerifyDevice func(sign, enc *smx509.Certificate) error

	// optee-rsa: the server's RSA key and the device check.
	RSA *RSAServerKeys
}

func defaults(r io.Reader, now func() time.Time) (io.Reader, func() time.Time) {
	if r == nil {
		r = rand.Reader
	}
	if now == nil {
		now = time.Now
	}
	return r, now
}

func (c ClientConfig) normalized() (ClientConfig, error) {
	c.Rand, c.Now = defaults(c.Rand, c.Now)
	if c.Profile == 0 {
		c.Profile = DefaultProfile
	}
	if len(c.Offered) == 0 {
		c.Offered = []chanwire.Profile{c.Profile}
	}
	switch c.Profile {
	case chanwire.ProfileGM, chanwire.ProfileGMFS:
		if err := c.Credentials.check(); err != nil {
			return c, err
		}
		if c.Roots == nil || c.ServerName == "" {
			return c, fmt.Errorf("%w: roots and server name are required", ErrConfig)
		}
	case chanwire.ProfileOpteeRSA:
		if err := c.RSA.check(); err != nil {
			return c, err
		}
	default:
		return c, fmt.Errorf("%w: unknown profile %d", ErrConfig, c.Profile)
	}
	found := false
	for _, p := range c.Offered {
		found = found || p == c.Profile
	}
	if !found {
		return c, fmt.Errorf("%w: offered list lacks %s", ErrConfig, c.Profile)
	}
	return c, nil
}

func (c ServerConfig) normalized() (ServerConfig, error) {
	c.Rand, c.Now = defaults(c.Rand, c.Now)
	if len(c.Profiles) == 0 {
		c.Profiles = []chanwire.Profile{DefaultProfile}
	}
	for _, p := range c.Profiles {
		switch p {
		case chanwire.ProfileGM, chanwire.ProfileGMFS:
			if err := c.Credentials.check(); err != nil {
				return c, err
			}
			if c.Roots == nil {
				return c, fmt.Errorf("%w: device trust anchors are required", ErrConfig)
			}
		case chanwire.ProfileOpteeRSA:
			if c.RSA == nil || c.RSA.Key == nil {
				return c, fmt.Errorf("%w: optee-rsa needs the server RSA key", ErrConfig)
			}
		default:
			return c, fmt.Errorf("%w: unknown profile %d", ErrConfig, p)
		}
	}
	return c, nil
}

func (c ServerConfig) accepts(p chanwire.Profile) bool {
	for _, q := range c.Profiles {
		if q == p {
			return true
		}
	}
	return false
}

// parseErr classifies a decoding failure: a well-formed message of the
// wrong type is ErrUnexpectedMessage, anything else ErrMalformed (with the
// chanwire error in the chain).
func parseErr(b []byte, err error) error {
	if h, herr := chanwire.ParseHeader(b); herr == nil {
		if _, _, serr := chanwire.Split(b); serr == nil {
			if fe := new(chanwire.FormatError); asFormat(err, fe) && fe.Err == chanwire.ErrUnexpectedType {
				return fmt.Errorf("%w: %s", ErrUnexpectedMessage, h.Type)
			}
		}
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}
