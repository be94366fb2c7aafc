package rpc

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPeerClosed: PeerClosed is false while the host keeps its end open
// (bytes waiting are not consumed), true once the host closed it and once
// the client is closed.
func TestPeerClosed(t *testing.T) {
	tests := []struct {
		name   string
		act    func(t *testing.T, host net.Conn, c *Client)
		closed bool
	}{
		{"open, idle", func(*testing.T, net.Conn, *Client) {}, false},
		{"open, bytes waiting", func(t *testing.T, host net.Conn, _ *Client) {
			_, err := host.Write([]byte{1, 2, 3})
			require.NoError(t, err)
		}, false},
		{"host closed", func(t *testing.T, host net.Conn, _ *Client) { require.NoError(t, host.Close()) }, true},
		{"client closed", func(t *testing.T, _ net.Conn, c *Client) { require.NoError(t, c.Close()) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
			require.NoError(t, err)
			defer ln.Close()
			nc, err := net.Dial("unix", ln.Addr().String())
			require.NoError(t, err)
			host, err := ln.Accept()
			require.NoError(t, err)
			defer host.Close()
			c := NewClient(nc)
			defer c.Close()
			require.False(t, c.PeerClosed(), "a fresh connection")
			tt.act(t, host, c)
			if tt.closed {
				assert.Eventually(t, c.PeerClosed, 2*time.Second, time.Millisecond)
				return
			}
			assert.Never(t, c.PeerClosed, 20*time.Millisecond, time.Millisecond)
			if tt.name == "open, bytes waiting" {
				var b [3]byte
				require.NoError(t, nc.SetReadDeadline(time.Now().Add(time.Second)))
				n, err := nc.Read(b[:])
				require.NoError(t, err)
				assert.Equal(t, []byte{1, 2, 3}, b[:n], "the peek consumed nothing")
			}
		})
	}
}
