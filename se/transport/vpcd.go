package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"go.uber.org/zap"
)

// DefaultVPCDPort is VPCDPORT of vsmartcard's vpcd.h.
const DefaultVPCDPort = 35963

// vpcd control messages (vpcd.h VPCD_CTRL_*).
const (
	vpcdOff   = 0x00
	vpcdOn    = 0x01
	vpcdReset = 0x02
	vpcdATR   = 0x04
)

// Reconnect back-off when pcscd is not there (or restarts).
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// ATR is the card's answer to reset (ISO/IEC 7816-3 §8.2): TS 3B (direct
// convention); T0 8A (TD1 follows, 10 historical bytes); TD1 80 (T=0,
// TD2 follows); TD2 01 (T=1); historical bytes 80 (ISO/IEC 7816-4 §12.1.1
// category: compact-TLV) 58 (tag 5, card issuer's data, 8 bytes)
// "fpemu-se"; TCK (XOR of T0 … last historical byte, required since T=1
// is indicated).
var ATR = func() []byte {
	b := []byte{0x3B, 0x8A, 0x80, 0x01, 0x80, 0x58, 'f', 'p', 'e', 'm', 'u', '-', 's', 'e'}
	var tck byte
	for _, x := range b[1:] {
		tck ^= x
	}
	return append(b, tck)
}()

// ServeVPCD connects the card to pcscd's vpcd reader at addr (host:port)
// and serves it until ctx ends, reconnecting with back-off whenever the
// connection fails or pcscd restarts. Each power-on or reset starts a new
// card session (open, normally the card's NewSession).
func ServeVPCD[S Session](ctx context.Context, open func() S, addr string, log *zap.Logger) error {
	backoff := minBackoff
	for {
		var d net.Dialer
		cn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			log.Info("vpcd connected", zap.String("addr", addr))
			backoff = minBackoff
			err = serveVPCDConn(ctx, open(), cn)
			_ = cn.Close()
			if ctx.Err() == nil {
				log.Info("vpcd disconnected", zap.String("addr", addr), zap.Error(err))
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func serveVPCDConn(ctx context.Context, s Session, cn net.Conn) error {
	stop := context.AfterFunc(ctx, func() { _ = cn.Close() })
	defer stop()
	var h [2]byte
	for {
		if _, err := io.ReadFull(cn, h[:]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint16(h[:]))
		if n == 0 {
			return errors.New("vpcd: empty message")
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(cn, msg); err != nil {
			return err
		}
		var out []byte
		if n == 1 {
			switch msg[0] {
			case vpcdOff, vpcdOn, vpcdReset:
				s.Reset()
				continue
			case vpcdATR:
				out = ATR
			default:
				return fmt.Errorf("vpcd: unknown control %#02x", msg[0])
			}
		} else {
			out = s.Transmit(ctx, msg)
		}
		if len(out) > 0xFFFF {
			out = []byte{0x67, 0x00} // cannot be carried: wrong length
		}
		b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(out)), uint16(len(out)))
		if _, err := cn.Write(append(b, out...)); err != nil {
			return err
		}
	}
}
