package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
)

// tappedConn records the bytes a connection sends and receives.
type tappedConn struct {
	net.Conn
	mu      sync.Mutex
	out, in bytes.Buffer
}

func (c *tappedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.in.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

func (c *tappedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.out.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

// tapDials returns a dial option under which every connection the client
// makes is a tappedConn, and the channel they arrive on.
func tapDials(t *testing.T) (grpc.DialOption, chan *tappedConn) {
	dialed := make(chan *tappedConn, 8)
	return grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		tc := &tappedConn{Conn: c}
		select {
		case dialed <- tc:
		default:
			t.Errorf("more than %d connections to %s", cap(dialed), addr)
		}
		return tc, nil
	}), dialed
}

// onlyConnFrames checks that a closed client made exactly one connection
// and returns the frames it sent and received on it, counted by type.
func onlyConnFrames(t *testing.T, dialed chan *tappedConn) (sent, recv map[http2.FrameType]int) {
	t.Helper()
	if len(dialed) != 1 {
		t.Fatalf("the client made %d connections to one endpoint, want 1", len(dialed))
	}
	tc := <-dialed
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return frameCounts(t, tc.out.Bytes(), true), frameCounts(t, tc.in.Bytes(), false)
}

// frameCounts parses recorded HTTP/2 bytes and counts frames by type.
func frameCounts(t *testing.T, b []byte, client bool) map[http2.FrameType]int {
	t.Helper()
	if client {
		if !bytes.HasPrefix(b, []byte(http2.ClientPreface)) {
			t.Fatalf("client bytes do not start with the HTTP/2 preface: %q", b[:min(len(b), 24)])
		}
		b = b[len(http2.ClientPreface):]
	}
	fr := http2.NewFramer(nil, bytes.NewReader(b))
	fr.SetMaxReadFrameSize(1 << 24)
	counts := map[http2.FrameType]int{}
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return counts
		}
		if err != nil {
			t.Fatalf("parse recorded frames: %v", err)
		}
		if p, ok := f.(*http2.PingFrame); ok && p.IsAck() {
			counts[0xff]++ // ping acks apart from pings
			continue
		}
		counts[f.Header().Type]++
	}
}

// TestNoFlowControlRoundTripPerCall checks what the SDK and the server put on
// the wire for small unary calls: one request and one response per call, and
// no HTTP/2 PING (gRPC's bandwidth estimator sends one per DATA frame it
// receives when none is outstanding, which with one call at a time is one per
// request and one per response, each answered by an ack) or connection
// WINDOW_UPDATE per call. Static flow-control windows (internal/grpcwire)
// turn the estimator off on both sides.
func TestNoFlowControlRoundTripPerCall(t *testing.T) {
	n := newNode(t)
	tap, dialed := tapDials(t)
	// Unary calls: on the pipe the calls have no HEADERS to count.
	c, err := client.New(client.Config{Endpoints: []string{n.addr}, DialOptions: []grpc.DialOption{tap}, NoPipe: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.CreateKVStore(ctx, "t", "ns", "kv"); err != nil {
		t.Fatal(err)
	}
	const calls = 200
	for i := range calls {
		key := fmt.Sprintf("k%d", i%10)
		if _, err := c.Put(ctx, "t/ns/kv", key, bytes.Repeat([]byte{'v'}, 256), flowmesh.KVPutOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, "t/ns/kv", key); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()

	sent, recv := onlyConnFrames(t, dialed)
	t.Logf("client sent %v, received %v (frame type: count; 255 = ping ack)", sent, recv)
	if got := sent[http2.FrameHeaders]; got < 2*calls {
		t.Fatalf("client sent %d HEADERS frames for %d calls: the tap missed traffic", got, 2*calls)
	}
	// A handful are allowed (a keepalive, a window update after a few MiB);
	// one per call is what the estimator does.
	const most = 4
	for _, f := range []struct {
		what string
		n    int
	}{
		{"PING frames from the client", sent[http2.FramePing]},
		{"PING frames from the server", recv[http2.FramePing]},
		{"connection WINDOW_UPDATE frames from the client", sent[http2.FrameWindowUpdate]},
		{"connection WINDOW_UPDATE frames from the server", recv[http2.FrameWindowUpdate]},
	} {
		if f.n > most {
			t.Errorf("%d %s over %d unary calls, want at most %d: a flow-control round trip per call", f.n, f.what, 2*calls, most)
		}
	}
}

// TestNewConnectsAtOnce checks that New starts connecting to the first
// endpoint before any call, so the first call does not pay for the
// handshakes, and that Close ends that connection.
func TestNewConnectsAtOnce(t *testing.T) {
	n := newNode(t)
	tap, dialed := tapDials(t)
	c, err := client.New(client.Config{Endpoints: []string{n.addr}, DialOptions: []grpc.DialOption{tap}})
	if err != nil {
		t.Fatal(err)
	}
	var tc *tappedConn
	select {
	case tc = <-dialed:
	case <-time.After(10 * time.Second):
		c.Close()
		t.Fatal("no connection to the endpoint 10s after New, with no call made")
	}
	// The HTTP/2 preface goes out as soon as the TCP connection is up.
	deadline := time.Now().Add(10 * time.Second)
	for {
		tc.mu.Lock()
		sent := tc.out.Len()
		tc.mu.Unlock()
		if sent >= len(http2.ClientPreface) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection New made sent no HTTP/2 preface within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case tc := <-dialed:
		t.Fatalf("a second connection (%v) was made without any call", tc.RemoteAddr())
	default:
	}
}
