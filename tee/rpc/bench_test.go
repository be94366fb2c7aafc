package rpc

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fpemu/fpemu/internal/testkit"
	"github.com/fpemu/fpemu/tee"
)

// BenchmarkCrossProcess measures, in one run and between the same two
// processes, (a) one InvokeCommand round trip carrying a MEMREF_INOUT of
// the given size to an echo command of a TA in a child process, and (b) a
// raw Unix-socket echo of the same size to a listener in that child. The
// issue's goal is invoke ≤ 1.5 × raw-echo.
//
//	go test -run '^$' -bench CrossProcess -benchmem ./tee/rpc
//
// With FPEMU_RPC_CHILD_PROFILE=DIR the child (the TA host) writes its CPU
// and allocation profiles to DIR when the benchmark ends.
func BenchmarkCrossProcess(b *testing.B) {
	ch := startChild(b)
	defer func() {
		// Stop the child gracefully (stdin closes), so that it can write
		// its profiles; Cleanup still kills it by pid if it hangs.
		ch.stdin.Close()
		_ = ch.Wait(b, 10*time.Second)
	}()
	ctx := context.Background() // benchmarks outlive testCtx's 10 s
	c, err := Dial(ctx, ch.taPath())
	require.NoError(b, err)
	defer c.Close()
	s, err := c.OpenSession(ctx, testUUID, nil)
	require.NoError(b, err)
	raw, err := net.Dial("unix", ch.echoPath())
	require.NoError(b, err)
	defer raw.Close()

	for _, size := range []int{64, 4096} {
		payload := make([]byte, size)
		for i := range payload {
			payload[i] = byte(i)
		}
		b.Run(fmt.Sprintf("invoke/%dB", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			var p tee.Params
			for b.Loop() {
				p[0] = tee.MemrefInout(payload, uint32(size))
				if err := s.Invoke(ctx, cmdEcho, &p); err != nil {
					b.Fatal(err)
				}
			}
			if len(p[0].Data) != size {
				b.Fatalf("echo returned %d bytes", len(p[0].Data))
			}
		})
		b.Run(fmt.Sprintf("paired/%dB", size), func(b *testing.B) {
			benchPaired(b, s, raw, payload)
		})
		b.Run(fmt.Sprintf("raw-echo/%dB", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			buf := make([]byte, size)
			for b.Loop() {
				if _, err := raw.Write(payload); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(raw, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchPaired alternates one raw echo and one invoke per iteration and
// reports the median of each and their ratio: on a shared, noisy machine
// the paired medians compare the two under the same conditions.
func benchPaired(b *testing.B, s *Session, raw net.Conn, payload []byte) {
	size := len(payload)
	buf := make([]byte, size)
	var rawNs, invNs []float64
	var p tee.Params
	for b.Loop() {
		t0 := time.Now()
		if _, err := raw.Write(payload); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(raw, buf); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		p[0] = tee.MemrefInout(payload, uint32(size))
		if err := s.Invoke(context.Background(), cmdEcho, &p); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		rawNs = append(rawNs, float64(t1.Sub(t0)))
		invNs = append(invNs, float64(t2.Sub(t1)))
	}
	r, i := median(rawNs), median(invNs)
	b.ReportMetric(r, "raw-median-ns")
	b.ReportMetric(i, "invoke-median-ns")
	b.ReportMetric(i/r, "invoke/raw")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// BenchmarkInProcessInvoke is the same round trip with client and host in
// one process (still over a Unix socket): the protocol's own overhead.
func BenchmarkInProcessInvoke(b *testing.B) {
	dir := testkit.ShortDir(b)
	srv := NewServer(testUUID, newFakeTA(), nil)
	ln, err := net.Listen("unix", dir+"/ta.sock")
	require.NoError(b, err)
	go srv.Serve(ln)
	defer srv.Shutdown(testCtx(b))
	ctx := context.Background()
	c, err := Dial(ctx, dir+"/ta.sock")
	require.NoError(b, err)
	defer c.Close()
	s, err := c.OpenSession(ctx, testUUID, nil)
	require.NoError(b, err)
	payload := make([]byte, 64)
	b.ReportAllocs()
	var p tee.Params
	for b.Loop() {
		p[0] = tee.MemrefInout(payload, 64)
		if err := s.Invoke(ctx, cmdEcho, &p); err != nil {
			b.Fatal(err)
		}
	}
}
