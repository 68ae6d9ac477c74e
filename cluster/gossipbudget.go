package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Gossip budget defaults (see doc.go, "Transport budgets").
const (
	// DefaultGossipMaxStreams bounds inbound gossip stream connections
	// (push/pull, TCP pings) open at once.
	DefaultGossipMaxStreams = 16
	// DefaultGossipMaxStreamBytes bounds the bytes read from one inbound
	// gossip stream; our push/pull state is about 1 KiB per node.
	DefaultGossipMaxStreamBytes = 4 << 20
	// gossipFirstByteTimeout bounds the wait for a stream's first byte.
	gossipFirstByteTimeout = 5 * time.Second
)

// memberlist's message types (net.go) that the budget inspects.
const (
	mlCompoundMsg = 7
	mlCompressMsg = 9
	mlHasCrcMsg   = 12
	mlHasLabelMsg = 244
)

// ErrGossipRefused is the cause of a gossip packet or stream the budget
// refused.
var ErrGossipRefused = errors.New("cluster: gossip message refused")

// GossipStats is the gossip transport budget's use.
type GossipStats struct {
	OpenStreams, MaxStreams int
	RefusedStreams          uint64 // closed at accept, over MaxStreams
	RefusedCompressed       uint64 // packets and streams refused for compression
	RefusedOversize         uint64 // streams closed over MaxStreamBytes
}

// gossipTransport is memberlist's NetTransport behind a budget: inbound
// streams are counted (over maxStreams: closed at once) and capped in
// bytes, and, when gossip is not encrypted, packets and streams that carry
// a compressed message are dropped before memberlist decompresses them
// (our nodes never compress). Encrypted gossip cannot be inspected here;
// memberlist refuses unencrypted messages then, and bounds what an
// encrypted one (from a holder of the key) decompresses to.
type gossipTransport struct {
	*memberlist.NetTransport
	inspect        bool // unencrypted gossip: refuse compressed messages
	maxStreams     int64
	maxStreamBytes int64
	log            *slog.Logger

	packets chan *memberlist.Packet
	streams chan net.Conn
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup

	open                                 atomic.Int64
	refusedStreams, compressed, oversize atomic.Uint64
}

var _ memberlist.NodeAwareTransport = (*gossipTransport)(nil)

func newGossipTransport(nt *memberlist.NetTransport, inspect bool, maxStreams int, maxStreamBytes int64, log *slog.Logger) *gossipTransport {
	t := &gossipTransport{
		NetTransport: nt, inspect: inspect,
		maxStreams: int64(maxStreams), maxStreamBytes: maxStreamBytes, log: log,
		packets: make(chan *memberlist.Packet), streams: make(chan net.Conn),
		stop: make(chan struct{}),
	}
	t.wg.Add(2)
	go t.forwardPackets()
	go t.acceptStreams()
	return t
}

func (t *gossipTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }
func (t *gossipTransport) StreamCh() <-chan net.Conn           { return t.streams }

func (t *gossipTransport) stats() GossipStats {
	return GossipStats{
		OpenStreams: int(t.open.Load()), MaxStreams: int(t.maxStreams),
		RefusedStreams: t.refusedStreams.Load(), RefusedCompressed: t.compressed.Load(), RefusedOversize: t.oversize.Load(),
	}
}

// Shutdown stops the forwarders, then memberlist's transport. Its
// listeners hand what arrives to unbuffered channels and its Shutdown
// waits for them, so while it runs a drainer takes (and drops) what still
// arrives: without it a packet landing during shutdown blocked the UDP
// listener forever and Shutdown with it (seen in CI under -race).
func (t *gossipTransport) Shutdown() error {
	var err error
	t.once.Do(func() {
		close(t.stop)
		t.wg.Wait()
		done := make(chan struct{})
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			in, streams := t.NetTransport.PacketCh(), t.NetTransport.StreamCh()
			for {
				select {
				case <-in:
				case c := <-streams:
					if c != nil {
						c.Close()
					}
				case <-done:
					return
				}
			}
		}()
		err = t.NetTransport.Shutdown()
		close(done)
		<-drained
	})
	return err
}

func (t *gossipTransport) forwardPackets() {
	defer t.wg.Done()
	in := t.NetTransport.PacketCh()
	for {
		select {
		case <-t.stop:
			return
		case p := <-in:
			if t.inspect && carriesCompressed(p.Buf, 0) {
				if t.compressed.Add(1)%100 == 1 {
					t.log.Warn("gossip packet refused: compressed", "from", p.From.String(), "refused", t.compressed.Load())
				}
				continue
			}
			select {
			case t.packets <- p:
			case <-t.stop:
				return
			}
		}
	}
}

// carriesCompressed reports whether a plaintext memberlist packet (or a
// part of a compound one) is a compressed message.
func carriesCompressed(buf []byte, depth int) bool {
	if len(buf) == 0 || depth > 2 {
		return depth > 2
	}
	switch buf[0] {
	case mlCompressMsg:
		return true
	case mlHasLabelMsg:
		if len(buf) < 2 || len(buf) < 2+int(buf[1]) {
			return false
		}
		return carriesCompressed(buf[2+int(buf[1]):], depth+1)
	case mlHasCrcMsg:
		if len(buf) < 5 {
			return false
		}
		return carriesCompressed(buf[5:], depth+1)
	case mlCompoundMsg:
		if len(buf) < 2 {
			return false
		}
		n := int(buf[1])
		rest := buf[2:]
		if len(rest) < 2*n {
			return false
		}
		lens, rest := rest[:2*n], rest[2*n:]
		for i := range n {
			l := int(binary.BigEndian.Uint16(lens[2*i:]))
			if len(rest) < l {
				return false // memberlist drops truncated parts
			}
			if carriesCompressed(rest[:l], depth+1) {
				return true
			}
			rest = rest[l:]
		}
	}
	return false
}

func (t *gossipTransport) acceptStreams() {
	defer t.wg.Done()
	in := t.NetTransport.StreamCh()
	for {
		select {
		case <-t.stop:
			return
		case c := <-in:
			if t.open.Add(1) > t.maxStreams {
				t.open.Add(-1)
				if t.refusedStreams.Add(1)%100 == 1 {
					t.log.Warn("gossip stream refused: over the stream budget", "remote", c.RemoteAddr().String(), "limit", t.maxStreams, "refused", t.refusedStreams.Load())
				}
				c.Close()
				continue
			}
			gc := &gossipConn{Conn: c, t: t, left: t.maxStreamBytes}
			t.wg.Add(1)
			go t.admit(gc)
		}
	}
}

// admit reads a stream's first byte (bounded in time) and hands it to
// memberlist unless it is a compressed message we must refuse.
func (t *gossipTransport) admit(c *gossipConn) {
	defer t.wg.Done()
	_ = c.Conn.SetReadDeadline(time.Now().Add(gossipFirstByteTimeout))
	var b [1]byte
	if _, err := io.ReadFull(c.Conn, b[:]); err != nil {
		c.Close()
		return
	}
	_ = c.Conn.SetReadDeadline(time.Time{})
	if t.inspect && (b[0] == mlCompressMsg || b[0] == mlHasLabelMsg) {
		if t.compressed.Add(1)%100 == 1 {
			t.log.Warn("gossip stream refused: compressed or labelled", "remote", c.RemoteAddr().String(), "refused", t.compressed.Load())
		}
		c.Close()
		return
	}
	c.first, c.hasFirst = b[0], true
	c.left--
	select {
	case t.streams <- c:
	case <-t.stop:
		c.Close()
	}
}

// gossipConn is an inbound gossip stream: its first byte was read by admit,
// and at most maxStreamBytes are read from it.
type gossipConn struct {
	net.Conn
	t        *gossipTransport
	first    byte
	hasFirst bool
	left     int64
	over     bool // the byte budget was hit (counted once)
	once     sync.Once
}

func (c *gossipConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.hasFirst {
		c.hasFirst = false
		p[0] = c.first
		return 1, nil
	}
	if c.left <= 0 {
		if c.over {
			return 0, io.ErrUnexpectedEOF
		}
		c.over = true
		if c.t.oversize.Add(1)%100 == 1 {
			c.t.log.Warn("gossip stream closed: over the byte budget", "remote", c.RemoteAddr().String(), "limit", c.t.maxStreamBytes, "refused", c.t.oversize.Load())
		}
		return 0, fmt.Errorf("%w: stream over %d bytes", ErrGossipRefused, c.t.maxStreamBytes)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *gossipConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.t.open.Add(-1) })
	return err
}
