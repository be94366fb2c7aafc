package drive

import (
	"context"
	"fmt"
	"io"

	"github.com/fpemu/fpemu/bio/payment/payproto"
	"github.com/fpemu/fpemu/channel/chanwire"
	"github.com/fpemu/fpemu/tee/rpc"
)

// ReadMessage reads one trusted-channel message (docs/protocol.md §11.2:
// header, then the body length it names, ≤ chanwire.MaxBody) from a
// stream. The header is checked before any body byte is read, so a peer
// cannot make the reader hold more than one maximal message.
func ReadMessage(r io.Reader) ([]byte, error) {
	hdr := make([]byte, chanwire.HeaderSize)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("drive: channel header: %w", err)
	}
	h, err := chanwire.ParseHeader(hdr)
	if err != nil {
		return nil, fmt.Errorf("drive: channel header: %w", err)
	}
	msg := make([]byte, chanwire.HeaderSize+int(h.Length))
	copy(msg, hdr)
	if _, err := io.ReadFull(r, msg[chanwire.HeaderSize:]); err != nil {
		return nil, fmt.Errorf("drive: channel body: %w", err)
	}
	return msg, nil
}

// Channel is the payment app's part of the trusted channel: it carries
// opaque bytes between the payment TA (which terminates the channel,
// docs/protocol.md §8.11) and a stream to the server, and reads none of
// them.
type Channel struct {
	Pay    rpc.Invoker
	Conn   io.ReadWriter
	Handle uint32
}

// Connect opens a channel of profile in the TA and runs its handshake over
// conn: TA → server, server → TA, TA → server.
func Connect(ctx context.Context, pay rpc.Invoker, conn io.ReadWriter, profile chanwire.Profile) (*Channel, error) {
	h, m1, err := payproto.OpenChannel{Profile: profile}.Execute(ctx, pay)
	if err != nil {
		return nil, err
	}
	c := &Channel{Pay: pay, Conn: conn, Handle: h}
	if _, err := conn.Write(m1); err != nil {
		return nil, err
	}
	m2, err := ReadMessage(conn)
	if err != nil {
		return nil, err
	}
	m3, est, err := payproto.ContinueChannel{Handle: h, Msg: m2}.Execute(ctx, pay)
	if err != nil {
		return nil, err
	}
	if !est {
		return nil, fmt.Errorf("drive: channel not established after the server's reply")
	}
	if _, err := conn.Write(m3); err != nil {
		return nil, err
	}
	return c, nil
}

// SendPayment has the TA sign the payment and seal the statement, and
// sends the record.
func (c *Channel) SendPayment(ctx context.Context, ref payproto.KeyRef, challenge uint64, payload []byte) error {
	rec, err := payproto.SealPayment{Handle: c.Handle, Ref: ref, Challenge: challenge, Payload: payload}.Execute(ctx, c.Pay)
	if err != nil {
		return err
	}
	_, err = c.Conn.Write(rec)
	return err
}

// Send has the TA seal custom info and sends the record.
func (c *Channel) Send(ctx context.Context, custom []byte) error {
	rec, err := payproto.SealMessage{Handle: c.Handle, Custom: custom}.Execute(ctx, c.Pay)
	if err != nil {
		return err
	}
	_, err = c.Conn.Write(rec)
	return err
}

// Receive reads the server's next record and has the TA open it: the
// verified feedback.
func (c *Channel) Receive(ctx context.Context) ([]byte, error) {
	rec, err := ReadMessage(c.Conn)
	if err != nil {
		return nil, err
	}
	return payproto.OpenChannelRecord{Handle: c.Handle, Record: rec}.Execute(ctx, c.Pay)
}

// Close forgets the channel in the TA.
func (c *Channel) Close(ctx context.Context) error {
	return payproto.CloseChannel{Handle: c.Handle}.Execute(ctx, c.Pay)
}
