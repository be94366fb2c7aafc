package payproto

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// TrustAnchors are what the payment TA trusts on the channel
// (docs/protocol.md §8.11): the roots of the server's SM2 certificates
// (gm, gm-fs) and the name the server's signing certificate must carry,
// and the server's pinned RSA public key (optee-rsa). The launcher hands
// them to the TA in its provisioning record (§5.3), never through a TA
// command, so the REE cannot swap them. Wire form, big-endian:
//
//	u8 version (1)
//	u16 len ‖ server name (0..255 bytes; required with roots)
//	u8 n (0..MaxAnchorRoots) ‖ n × (u16 len ‖ root certificate DER, 1..MaxAnchorCert)
//	u16 len ‖ RSA server public key, PKIX DER (0 = none, ≤ MaxAnchorCert)
//
// The codec does no crypto: the TA parses the DER when it loads them.
type TrustAnchors struct {
	ServerName string
	Roots      [][]byte
	RSAServer  []byte
}

// Bounds of TrustAnchors.
const (
	AnchorsVersion = 1
	MaxAnchorRoots = 8
	MaxAnchorCert  = 4096
	MaxServerName  = 255
)

// ErrAnchors: trust anchors that do not decode (or would not).
var ErrAnchors = errors.New("payment: malformed trust anchors")

func (a TrustAnchors) check() error {
	switch {
	case len(a.ServerName) > MaxServerName:
		return fmt.Errorf("%w: server name of %d bytes", ErrAnchors, len(a.ServerName))
	case len(a.Roots) > MaxAnchorRoots:
		return fmt.Errorf("%w: %d roots, max %d", ErrAnchors, len(a.Roots), MaxAnchorRoots)
	case len(a.Roots) > 0 && a.ServerName == "":
		return fmt.Errorf("%w: roots without a server name", ErrAnchors)
	case len(a.Roots) == 0 && len(a.RSAServer) == 0:
		return fmt.Errorf("%w: neither roots nor an RSA server key", ErrAnchors)
	case len(a.RSAServer) > MaxAnchorCert:
		return fmt.Errorf("%w: RSA key of %d bytes", ErrAnchors, len(a.RSAServer))
	}
	for i, r := range a.Roots {
		if len(r) == 0 || len(r) > MaxAnchorCert {
			return fmt.Errorf("%w: root %d of %d bytes", ErrAnchors, i, len(r))
		}
	}
	return nil
}

// Marshal returns the wire form, or ErrAnchors.
func (a TrustAnchors) Marshal() ([]byte, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	b := []byte{AnchorsVersion}
	b = binary.BigEndian.AppendUint16(b, uint16(len(a.ServerName)))
	b = append(b, a.ServerName...)
	b = append(b, byte(len(a.Roots)))
	for _, r := range a.Roots {
		b = binary.BigEndian.AppendUint16(b, uint16(len(r)))
		b = append(b, r...)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(a.RSAServer)))
	return append(b, a.RSAServer...), nil
}

// ParseTrustAnchors decodes the wire form strictly (every bound, no
// trailing bytes); on error the zero value and ErrAnchors.
func ParseTrustAnchors(b []byte) (TrustAnchors, error) {
	r := reader{b: b}
	if v := r.u8(); v != AnchorsVersion {
		return TrustAnchors{}, fmt.Errorf("%w: version %d", ErrAnchors, v)
	}
	var a TrustAnchors
	a.ServerName = string(r.field())
	n := int(r.u8())
	if n > MaxAnchorRoots {
		return TrustAnchors{}, fmt.Errorf("%w: %d roots", ErrAnchors, n)
	}
	for range n {
		a.Roots = append(a.Roots, r.field())
	}
	if k := r.field(); len(k) > 0 {
		a.RSAServer = k
	}
	if r.bad || len(r.b) != 0 {
		return TrustAnchors{}, fmt.Errorf("%w: truncated or trailing bytes", ErrAnchors)
	}
	if err := a.check(); err != nil {
		return TrustAnchors{}, err
	}
	return a, nil
}

// reader reads length-prefixed fields, remembering a short read.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) u8() byte {
	if len(r.b) < 1 {
		r.bad = true
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) field() []byte {
	if len(r.b) < 2 {
		r.bad = true
		return nil
	}
	n := int(binary.BigEndian.Uint16(r.b))
	if len(r.b) < 2+n {
		r.bad = true
		r.b = nil
		return nil
	}
	v := append([]byte(nil), r.b[2:2+n]...)
	r.b = r.b[2+n:]
	return v
}
