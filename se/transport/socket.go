package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fpemu/fpemu/se/apdu"
	"github.com/fpemu/fpemu/tee/devdir"
)

// Bounds of the Unix socket server.
const (
	MaxConns    = 16
	IdleTimeout = 5 * time.Minute
)

// ErrFrame is a frame the socket framing does not allow.
var ErrFrame = errors.New("transport: bad frame")

// WriteFrame writes one frame of the Unix socket framing: u32be length ‖
// payload, the length 1..apdu.MaxResponseSize.
func WriteFrame(w io.Writer, p []byte) error {
	if len(p) == 0 || len(p) > apdu.MaxResponseSize {
		return fmt.Errorf("%w: %d bytes", ErrFrame, len(p))
	}
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(p)), uint32(len(p)))
	_, err := w.Write(append(b, p...))
	return err
}

// ReadFrame reads one frame of at most max bytes (1..max, else ErrFrame).
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if n == 0 || n > uint32(max) {
		return nil, fmt.Errorf("%w: length %d (1..%d)", ErrFrame, n, max)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Session is one power-on of a card as the servers drive it (se/card's
// *Session): Transmit answers a command APDU with a response APDU, Reset
// is a power cycle. The servers take a session opener rather than the
// card, so this package — whose client side the REE uses — links no card
// and no sealed store.
type Session interface {
	Transmit(ctx context.Context, cmd []byte) []byte
	Reset()
}

// ServeSocket serves the card on a Unix socket at path (devdir.Listen:
// mode 0600, never over an existing file; peers must be the owner) until
// ctx ends. Each connection is one card session (power-on at connect:
// open, normally the card's NewSession):
// the client writes a command APDU frame, the card answers with one
// response APDU frame.
func ServeSocket[S Session](ctx context.Context, open func() S, path string, log *zap.Logger) error {
	ln, err := devdir.Listen(path)
	if err != nil {
		return err
	}
	return ServeListener(ctx, open, ln, log)
}

// ServeListener is ServeSocket on a socket the caller bound with
// devdir.Listen — so that it can announce the socket only once a client
// can connect — and unlinks it when ctx ends.
func ServeListener[S Session](ctx context.Context, open func() S, ln *devdir.Listener, log *zap.Logger) error {
	defer func() { _ = ln.Unlink() }()
	owned := devdir.OwnerOnly(ln, log)
	var wg sync.WaitGroup
	sem := make(chan struct{}, MaxConns)
	conns := map[net.Conn]struct{}{}
	var mu sync.Mutex
	go func() {
		<-ctx.Done()
		_ = owned.Close()
		mu.Lock()
		for cn := range conns {
			_ = cn.Close()
		}
		mu.Unlock()
	}()
	for {
		cn, err := owned.Accept()
		if err != nil {
			wg.Wait()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case sem <- struct{}{}:
		default:
			log.Warn("connection refused: too many", zap.Int("max", MaxConns))
			_ = cn.Close()
			continue
		}
		mu.Lock()
		conns[cn] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			serveConn(ctx, open(), cn)
			mu.Lock()
			delete(conns, cn)
			mu.Unlock()
			_ = cn.Close()
		}()
	}
}

func serveConn(ctx context.Context, s Session, cn net.Conn) {
	for {
		_ = cn.SetReadDeadline(time.Now().Add(IdleTimeout))
		cmd, err := ReadFrame(cn, apdu.MaxCommandSize)
		if err != nil {
			return
		}
		if err := WriteFrame(cn, s.Transmit(ctx, cmd)); err != nil {
			return
		}
	}
}

// Client is the host side of the Unix socket transport: one session.
type Client struct{ conn net.Conn }

// Dial connects to a card's socket (a new session).
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	cn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	return &Client{conn: cn}, nil
}

// Transmit sends a command APDU and returns the response APDU bytes.
func (c *Client) Transmit(cmd []byte) ([]byte, error) {
	if err := WriteFrame(c.conn, cmd); err != nil {
		return nil, err
	}
	return ReadFrame(c.conn, apdu.MaxResponseSize)
}

// Close ends the session.
func (c *Client) Close() error { return c.conn.Close() }
