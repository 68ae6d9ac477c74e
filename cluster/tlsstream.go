package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// HandshakeTimeout bounds a raft TLS handshake, accepted or dialled: a
// connection that has not completed one by then is closed, so a peer that
// connects and stalls holds nothing of raft's.
const HandshakeTimeout = 5 * time.Second

// tlsStreamLayer is raft's stream layer over mutual TLS. Accept hands raft
// only connections whose handshake completed, so a client without a
// certificate from the peer CA, or one speaking plain TCP, never reaches
// raft's decoder. Handshakes run concurrently so a stalled one cannot hold
// up the others.
type tlsStreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	server    *tls.Config
	client    *tls.Config
	log       *slog.Logger
	timeout   time.Duration // of a handshake

	ready  chan net.Conn
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

var _ raft.StreamLayer = (*tlsStreamLayer)(nil)

// newTLSStreamLayer accepts on ln; advertise (nil: the bound address) is
// the address peers dial.
func newTLSStreamLayer(ln net.Listener, advertise net.Addr, server, client *tls.Config, timeout time.Duration, log *slog.Logger) (*tlsStreamLayer, error) {
	if advertise == nil {
		advertise = ln.Addr()
	}
	if a, ok := advertise.(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() {
		return nil, errors.New("cluster: raft address is not advertisable (bound to all interfaces without AdvertiseAddr)")
	}
	s := &tlsStreamLayer{
		ln: ln, advertise: advertise, server: server, client: client, log: log,
		timeout: timeout,
		ready:   make(chan net.Conn), closed: make(chan struct{}),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

func (s *tlsStreamLayer) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.closed:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.log.Warn("raft TLS accept failed", "error", err)
			select {
			case <-s.closed:
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		s.wg.Add(1)
		go s.handshake(conn)
	}
}

func (s *tlsStreamLayer) handshake(conn net.Conn) {
	defer s.wg.Done()
	tc := tls.Server(conn, s.server)
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := tc.HandshakeContext(ctx); err != nil {
		s.log.Warn("raft connection refused: TLS handshake failed", "remote", conn.RemoteAddr().String(), "error", err)
		conn.Close()
		return
	}
	select {
	case s.ready <- tc:
	case <-s.closed:
		tc.Close()
	}
}

// Accept returns the next connection that completed its handshake.
func (s *tlsStreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.ready:
		return c, nil
	case <-s.closed:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and waits for pending handshakes to end.
func (s *tlsStreamLayer) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		err = s.ln.Close()
		s.wg.Wait()
	})
	return err
}

// Addr is the advertised address: raft gossips it as this server's.
func (s *tlsStreamLayer) Addr() net.Addr { return s.advertise }

// Dial connects and completes the handshake within timeout (and at most
// HandshakeTimeout for the handshake itself).
func (s *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: min(timeout, HandshakeTimeout)},
		Config:    s.client,
	}
	return d.DialContext(ctx, "tcp", string(address))
}
