package client

import (
	"context"
	"crypto/tls"
	"errors"
	"math"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/internal/grpcwire"
)

// The client implements the root package's interfaces, like the embedded node.
var (
	_ flowmesh.ResourceManager = (*Client)(nil)
	_ flowmesh.StreamManager   = (*Client)(nil)
	_ flowmesh.QueueManager    = (*Client)(nil)
	_ flowmesh.KVManager       = (*Client)(nil)
)

// ErrClosed is returned by calls on a closed Client.
var ErrClosed = errors.New("client: closed")

// maxRecvMsgSize admits the largest response a node sends: responses are
// bounded by the node's MaxResponseBytes (8 MiB by default) plus one item.
const maxRecvMsgSize = 64 << 20

// Config configures a Client. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// Endpoints are the gRPC addresses ("host:port") of one or more nodes.
	// Others are learned from NotLeader details. Calls start at the first
	// endpoint, or, unless Pinned, at the leader that another client of
	// this process, made with the same Endpoints, was last pointed to.
	Endpoints []string
	// DialTimeout bounds establishing one connection (0: 5s). New starts
	// connecting to the node calls start at (see Endpoints) at once, in
	// the background; others are connected on the first call that needs
	// them.
	DialTimeout time.Duration
	// RequestTimeout bounds a whole unary call, retries included, when ctx
	// has no deadline (0: no bound beyond ctx). A ctx deadline always wins.
	RequestTimeout time.Duration
	// AttemptTimeout bounds one attempt of a call that may be retried
	// (reads, and writes with a request ID), so a node that hangs (paused,
	// cut off by a partition) is given up on and the next endpoint tried
	// (0: 5s; negative: no bound per attempt). A long-poll Reserve gets its
	// wait on top.
	AttemptTimeout time.Duration
	// MaxRetries is how many times one call is retried after the first
	// attempt (0: 10; negative: never retry).
	MaxRetries int
	// BackoffBase and BackoffMax shape the exponential backoff between
	// retries (0: 25ms and 1s); each wait is jittered to [d/2, d].
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Pinned keeps every call on the configured endpoints: leader hints
	// (NotLeader details, the header of a forwarded call) are not followed,
	// so the node a call reaches forwards writes and linearizable reads to
	// the leader itself, and a failed endpoint is left for the next
	// configured one. Use it to spread clients over the nodes, or, with one
	// endpoint, to bind a client to one node (the fault-injection harness
	// does, so a node that answers on its own is caught).
	Pinned bool
	// TLS, when set, secures every connection with it (nil: plaintext).
	// Its RootCAs verify the nodes; Certificates or GetClientCertificate
	// present a client certificate. ServerName may stay empty: each
	// endpoint's host is verified.
	TLS *tls.Config
	// DialOptions are added after the client's own (the transport of TLS,
	// insecure without): they may override it.
	DialOptions []grpc.DialOption
	// NoPipe makes every call a unary gRPC call of its own. By default the
	// small, frequent calls (KV Put, Get and Delete, WriteEvents, Enqueue,
	// Reserve, Ack) share one stream per connection, which costs the client
	// and the node far less CPU per call (pipe.go); the results are the same.
	NoPipe bool
	// Token, when set, is sent as "authorization: Bearer <token>" on every
	// call (token.go). The client never logs it.
	Token string
}

// DefaultConfig returns the defaults, with no endpoints.
func DefaultConfig() Config {
	return Config{
		DialTimeout:    5 * time.Second,
		AttemptTimeout: 5 * time.Second,
		MaxRetries:     10,
		BackoffBase:    25 * time.Millisecond,
		BackoffMax:     time.Second,
	}
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if len(c.Endpoints) == 0 {
		errs = append(errs, flowmesh.Invalid("Endpoints", "at least one endpoint is needed"))
	}
	for i, e := range c.Endpoints {
		switch {
		case e == "":
			errs = append(errs, flowmesh.Invalid("Endpoints", "endpoint %d is empty", i))
		case strings.Contains(e, "://"):
			errs = append(errs, flowmesh.Invalid("Endpoints", "endpoint %s: want host:port without a scheme (TLS is Config.TLS; in the CLI, --cacert)", flowmesh.Quote(e)))
		default:
			if err := flowmesh.ValidateAddr("Endpoints", e); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"DialTimeout", c.DialTimeout}, {"RequestTimeout", c.RequestTimeout}, {"BackoffBase", c.BackoffBase}, {"BackoffMax", c.BackoffMax}} {
		if d.v < 0 {
			errs = append(errs, flowmesh.Invalid(d.name, "%v is negative", d.v))
		}
	}
	if c.BackoffMax > 0 && c.BackoffBase > c.BackoffMax {
		errs = append(errs, flowmesh.Invalid("BackoffBase", "%v exceeds BackoffMax %v", c.BackoffBase, c.BackoffMax))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.DialTimeout == 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = d.AttemptTimeout
	}
	switch {
	case c.MaxRetries == 0:
		c.MaxRetries = d.MaxRetries
	case c.MaxRetries < 0:
		c.MaxRetries = 0
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = d.BackoffBase
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = max(d.BackoffMax, c.BackoffBase)
	}
	c.Endpoints = append([]string(nil), c.Endpoints...)
	c.DialOptions = append([]grpc.DialOption(nil), c.DialOptions...)
	return c
}

// Client is a FlowMesh client. It is safe for concurrent use; make one per
// cluster and share it.
type Client struct {
	cfg      Config
	dialOpts []grpc.DialOption

	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	target string // where calls go: the leader once known
	leader string // the address believed to be the leader's; "" when unknown
	next   int    // index in cfg.Endpoints of the next endpoint to try
	closed bool
}

// New returns a client for the nodes at cfg.Endpoints. It starts connecting
// to the one calls start at (see Config.Endpoints) in the background and
// returns without waiting: the first call finds the connection up (or
// still being made) instead of paying the TCP and HTTP/2 handshakes itself,
// as with etcd's and NATS's clients. A node that is down is not an error
// here; calls report it.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Client{
		cfg:    cfg,
		conns:  make(map[string]*grpc.ClientConn),
		target: cfg.Endpoints[0],
		next:   1 % len(cfg.Endpoints),
	}
	if !cfg.Pinned {
		// Another client of this process already found the leader of these
		// endpoints: start there (direct), not with a forwarded first call
		// and a second connection.
		if addr := knownLeaders.get(cfg.Endpoints); addr != "" {
			c.target, c.leader = addr, addr
		}
	}
	creds := insecure.NewCredentials()
	if cfg.TLS != nil {
		creds = credentials.NewTLS(cfg.TLS)
	}
	c.dialOpts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: cfg.BackoffBase, Multiplier: 1.6, Jitter: 0.2, MaxDelay: max(cfg.BackoffMax, time.Second)},
			MinConnectTimeout: cfg.DialTimeout,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgSize), grpc.MaxCallSendMsgSize(math.MaxInt32)),
		// Pings notice a node that vanished under a quiet Subscribe or Watch,
		// so the stream resumes elsewhere; rpc.Server admits this rate.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
	}, append(grpcwire.DialOptions(), cfg.DialOptions...)...)
	if cfg.Token != "" {
		c.dialOpts = append(c.dialOpts, grpc.WithPerRPCCredentials(bearerToken(cfg.Token)))
	}
	// Validate checked the address; NewClient only fails on a target it
	// cannot parse, which the first call reports then.
	if cc, err := c.conn(c.target); err == nil {
		cc.Connect()
	}
	return c, nil
}

// Close closes every connection. Calls in flight fail; later calls return
// ErrClosed. Close is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for addr, cc := range c.conns {
		errs = append(errs, cc.Close())
		delete(c.conns, addr)
	}
	return errors.Join(errs...)
}

// pick returns the address calls go to now and its connection.
func (c *Client) pick() (string, *grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return "", nil, ErrClosed
	}
	addr := c.target
	cc, err := c.connLocked(addr)
	return addr, cc, err
}

// conn returns the connection to addr, made on first use.
func (c *Client) conn(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	return c.connLocked(addr)
}

func (c *Client) connLocked(addr string) (*grpc.ClientConn, error) {
	if cc, ok := c.conns[addr]; ok {
		return cc, nil
	}
	var cp *connPipe
	if !c.cfg.NoPipe {
		cp = &connPipe{}
	}
	opts := append(c.dialOpts[:len(c.dialOpts):len(c.dialOpts)], grpc.WithChainUnaryInterceptor(c.leaderHints(addr, cp)))
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, err
	}
	if cp != nil {
		cp.mu.Lock()
		cp.cc = cc
		cp.mu.Unlock()
	}
	c.conns[addr] = cc
	return cc, nil
}

// redirect sends later calls to addr, a leader hint (from a NotLeader
// detail or a forwarded call's header), and sends them direct.
func (c *Client) redirect(addr string) {
	if c.cfg.Pinned {
		return
	}
	c.mu.Lock()
	c.target, c.leader = addr, addr
	c.mu.Unlock()
	knownLeaders.put(c.cfg.Endpoints, addr)
}

// knownLeaders is the last leader address each set of endpoints pointed a
// client of this process to, so clients made later start there. A stale
// entry costs what a stale hint always does: the old leader answers
// NotLeader with the new one, or fails and the client moves on.
var knownLeaders = leaderCache{m: map[string]string{}}

// maxKnownLeaders bounds knownLeaders (endpoint sets of one process).
const maxKnownLeaders = 256

type leaderCache struct {
	mu sync.Mutex
	m  map[string]string // endpoints joined by "," -> leader's address
}

func (lc *leaderCache) get(endpoints []string) string {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.m[strings.Join(endpoints, ",")]
}

func (lc *leaderCache) put(endpoints []string, addr string) {
	key := strings.Join(endpoints, ",")
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.m[key] == addr {
		return
	}
	if _, ok := lc.m[key]; !ok && len(lc.m) >= maxKnownLeaders {
		clear(lc.m)
	}
	lc.m[key] = addr
}

// forget drops the entry of endpoints if it is addr (a node that failed).
func (lc *leaderCache) forget(endpoints []string, addr string) {
	key := strings.Join(endpoints, ",")
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.m[key] == addr {
		delete(lc.m, key)
	}
}

// rotate moves calls on from failed to the next configured endpoint, unless
// another call already moved them. The leader is unknown again.
func (c *Client) rotate(failed string) {
	knownLeaders.forget(c.cfg.Endpoints, failed)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader == failed {
		c.leader = ""
	}
	if c.target != failed {
		return
	}
	c.target = c.cfg.Endpoints[c.next]
	c.next = (c.next + 1) % len(c.cfg.Endpoints)
}

// leaderHints is the unary interceptor of the connection to addr. Calls to
// the node believed to lead go direct (metadata flowmesh-direct): should it
// no longer lead it answers NotLeader with the new leader's address, which
// invoke follows, rather than forwarding. Calls to another node are
// forwarded by it to the leader, and its "flowmesh-leader" header moves
// later calls to the leader.
//
// This runs on every call, so it keeps its own work small: a direct call
// is never forwarded, so it carries no leader header and asks for none; a
// Pinned client follows no hints, so it asks for none either.
//
// It also sends the calls of pipeMethods on the connection's pipe (cp; nil:
// none), when there is one (pipe.go).
func (c *Client) leaderHints(addr string, cp *connPipe) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		c.mu.Lock()
		direct := c.leader == addr
		c.mu.Unlock()
		if cp != nil && pipeMethods[method] {
			if p := cp.get(); p != nil {
				var hdr metadata.MD
				err := p.call(ctx, method, req, reply, direct, &hdr)
				if !errors.Is(err, errPipeNotSent) {
					if !direct {
						c.followLeaderHeader(addr, hdr)
					}
					return err
				}
			}
		}
		if direct {
			return invoker(withDirect(ctx), method, req, reply, cc, opts...)
		}
		if c.cfg.Pinned {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		var hdr metadata.MD
		err := invoker(ctx, method, req, reply, cc, append(opts, grpc.Header(&hdr))...)
		c.followLeaderHeader(addr, hdr)
		return err
	}
}

// followLeaderHeader moves later calls to the leader named by the
// "flowmesh-leader" header of a call forwarded by the node at addr.
func (c *Client) followLeaderHeader(addr string, hdr metadata.MD) {
	if v := hdr.Get(mdLeader); len(v) > 0 && v[0] != "" && v[0] != addr {
		c.redirect(v[0]) // a no-op for a Pinned client
	}
}

// directMD is the outgoing metadata of a direct call. gRPC only reads
// outgoing metadata, so one value serves every call.
var directMD = metadata.MD{mdDirect: []string{"1"}}

// withDirect marks ctx's call direct: it appends flowmesh-direct to the
// caller's outgoing metadata, or, when there is none (the common case),
// sets the shared directMD without copying anything.
func withDirect(ctx context.Context) context.Context {
	if _, ok := metadata.FromOutgoingContext(ctx); !ok {
		return metadata.NewOutgoingContext(ctx, directMD)
	}
	return metadata.AppendToOutgoingContext(ctx, mdDirect, "1")
}
