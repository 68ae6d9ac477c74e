package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// nodeMeta is what a node gossips about itself as memberlist metadata. It
// travels between versions, so fields are only ever added, and stays well
// under memberlist.MetaMaxSize (512 bytes): IDs are at most 64 bytes.
type nodeMeta struct {
	ID       string `json:"id"`
	Raft     string `json:"raft"`
	GRPC     string `json:"grpc,omitempty"`
	Expect   int    `json:"expect,omitempty"`
	Version  string `json:"v,omitempty"`
	HasState bool   `json:"state,omitempty"`
	Applied  uint64 `json:"applied,omitempty"`
	// Leaving is gossiped just before a graceful leave: memberlist's leave
	// notification does not tell a leave from a death (its Node.State is
	// not kept current), so a member whose last metadata said leaving left.
	// The leave notice (leaveNoticeMsg) says the same over TCP, for when
	// this update loses the race with the leave.
	Leaving bool `json:"leaving,omitempty"`
	// Cluster is the node's cluster ID (clusterid.go), empty while unknown.
	Cluster string `json:"cluster,omitempty"`
	// Leader: the node is the raft leader.
	Leader bool `json:"leader,omitempty"`
	// DiskAlarm, DiskFree and DiskReserve: see Member. Free bytes are
	// gossiped only under an alarm, rounded down to a MiB, so a node's
	// changing free space does not re-gossip its metadata every second.
	DiskAlarm   bool  `json:"disk_alarm,omitempty"`
	DiskFree    int64 `json:"disk_free,omitempty"`
	DiskReserve int64 `json:"disk_reserve,omitempty"`
}

// MembershipConfig configures gossip membership.
type MembershipConfig struct {
	// Name is this node's raft server ID; it is also its memberlist name.
	Name string
	// GossipOptions: BindAddr, SecretKey, the stream budgets and the
	// BootstrapExpect gossiped in the metadata. NewMembership uses neither
	// Join (call Join or JoinBackground) nor DeadServerCleanup (Manage).
	GossipOptions
	// AdvertiseAddr is the host or host:port others reach this node at;
	// empty advertises the bound address.
	AdvertiseAddr string

	RaftAddr string // advertised raft address
	GRPCAddr string // advertised gRPC address
	Version  string

	// HasState and Applied report the local raft state for gossip; nil
	// means false and 0.
	HasState func() bool
	Applied  func() uint64
	// IsLeader reports whether this node is the raft leader (nil: never).
	IsLeader func() bool
	// ClusterID returns this node's cluster ID ("" while unknown; nil: no
	// ID). Gossip from, and merges with, nodes of another cluster are
	// refused.
	ClusterID func() string
	// Disk reports this node's disk alarm, free bytes and reserve (nil:
	// no alarm).
	Disk func() (alarm bool, free, reserve int64)
	// MetaRefresh is how often changes of HasState and Applied are gossiped.
	MetaRefresh time.Duration

	// Local uses memberlist's loopback timings (tests).
	Local  bool
	Logger *slog.Logger
}

// memberState is the last gossip report about one node.
type memberState struct {
	meta    nodeMeta
	addr    string
	status  string
	changed time.Time
	// leaveNotice: the node told us directly (leaveNoticeMsg) that it
	// leaves; kept until it joins again.
	leaveNotice bool
}

// Membership is gossip membership (hashicorp/memberlist) with FlowMesh node
// metadata. It tracks every member it has heard of, dead and left ones
// included (memberlist itself forgets them), for the leader's
// reconciliation.
type Membership struct {
	cfg    MembershipConfig
	logger *slog.Logger
	ml     *memberlist.Memberlist
	addr   string // advertised gossip address, set once at start
	trans  *gossipTransport

	refreshMu sync.Mutex // serialises RefreshMeta
	mu        sync.Mutex
	members   map[string]*memberState
	meta      nodeMeta // what we gossip now
	leaving   bool
	changes   chan struct{}

	stop     chan struct{}
	wg       sync.WaitGroup
	shutOnce sync.Once
	leftOnce sync.Once
	leftErr  error
}

// reapAfter is how long a dead or left member not in the raft configuration
// is still reported.
const reapAfter = time.Hour

// NewMembership starts gossip on cfg.BindAddr. It joins nobody: call Join.
func NewMembership(cfg MembershipConfig) (*Membership, error) {
	if cfg.Name == "" {
		return nil, errors.New("cluster: membership Name is required")
	}
	if err := cfg.GossipOptions.Validate(); err != nil {
		return nil, err
	}
	cfg.GossipOptions.EnsureDefaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MetaRefresh <= 0 {
		cfg.MetaRefresh = time.Second
	}
	m := &Membership{
		cfg:     cfg,
		logger:  cfg.Logger.With("component", "membership", "id", cfg.Name),
		members: map[string]*memberState{},
		changes: make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	m.meta = m.currentMeta()

	mc := memberlist.DefaultLANConfig()
	if cfg.Local {
		mc = memberlist.DefaultLocalConfig()
	}
	mc.Name = cfg.Name
	host, port, err := splitHostPort(cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip BindAddr %q: %w", cfg.BindAddr, err)
	}
	mc.BindAddr, mc.BindPort = host, port
	if mc.BindAddr == "" {
		mc.BindAddr = "0.0.0.0"
	}
	if cfg.AdvertiseAddr != "" {
		ah, ap, err := splitHostPort(cfg.AdvertiseAddr)
		if err != nil {
			// A bare host: advertise it with the bound port.
			ah, ap = cfg.AdvertiseAddr, port
			if ap == 0 {
				return nil, fmt.Errorf("cluster: gossip AdvertiseAddr %q has no port and BindAddr %q picks one", cfg.AdvertiseAddr, cfg.BindAddr)
			}
		}
		ips, err := net.LookupIP(ah)
		if err != nil || len(ips) == 0 {
			return nil, fmt.Errorf("cluster: gossip AdvertiseAddr %q: cannot resolve: %v", cfg.AdvertiseAddr, err)
		}
		mc.AdvertiseAddr = ips[0].String()
		mc.AdvertisePort = ap
	}
	if len(cfg.SecretKey) > 0 {
		if err := memberlist.ValidateKey(cfg.SecretKey); err != nil {
			return nil, fmt.Errorf("cluster: gossip key: %w", err)
		}
		mc.SecretKey = cfg.SecretKey
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	// A node that keeps its ID at a new address takes its old entry over
	// once that entry has been dead this long.
	mc.DeadNodeReclaimTime = 5 * time.Second
	mc.Delegate = (*mlDelegate)(m)
	mc.Events = (*mlEvents)(m)
	mc.Alive = (*mlGuard)(m)
	mc.Merge = (*mlGuard)(m)
	mc.Logger = log.New(&mlLogWriter{logger: m.logger}, "", 0)
	// Our nodes never compress, so a compressed message is refused
	// before memberlist inflates it (gossipTransport).
	mc.EnableCompression = false
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{mc.BindAddr}, BindPort: mc.BindPort, Logger: mc.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: start gossip: %w", err)
	}
	if mc.BindPort == 0 {
		mc.BindPort = nt.GetAutoBindPort()
		if cfg.AdvertiseAddr == "" {
			mc.AdvertisePort = mc.BindPort
		}
	}
	m.trans = newGossipTransport(nt, len(cfg.SecretKey) == 0, cfg.MaxStreams, cfg.MaxStreamBytes, m.logger)
	mc.Transport = m.trans

	ml, err := memberlist.Create(mc)
	if err != nil {
		_ = m.trans.Shutdown()
		return nil, fmt.Errorf("cluster: start gossip: %w", err)
	}
	m.ml = ml
	// The advertised address never changes; read it once, since memberlist
	// rewrites the local node's record (under its own lock) on every
	// metadata update and LocalNode hands out a pointer to it.
	n := ml.LocalNode()
	m.addr = net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	m.wg.Add(1)
	go m.refreshLoop()
	m.logger.Info("gossip started", "addr", m.Addr(), "encrypted", len(cfg.SecretKey) > 0)
	return m, nil
}

// GossipStats reports the gossip transport budget's use.
func (m *Membership) GossipStats() GossipStats { return m.trans.stats() }

func splitHostPort(addr string) (string, int, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return h, port, nil
}

// Addr is the advertised gossip address (host:port) others join.
func (m *Membership) Addr() string { return m.addr }

// Join contacts the given gossip addresses and returns how many answered.
func (m *Membership) Join(addrs []string) (int, error) {
	if len(addrs) == 0 {
		return 0, errors.New("cluster: no addresses to join")
	}
	n, err := m.ml.Join(addrs)
	if n > 0 {
		m.logger.Info("joined", "contacted", n, "addrs", addrs)
		return n, nil
	}
	return n, fmt.Errorf("cluster: join %v: %w", addrs, err)
}

// JoinContext is Join bounded by ctx: memberlist's join takes no context
// (it dials and waits up to its TCP timeout per address), so it runs in a
// goroutine the membership owns and Shutdown waits for. When ctx ends first,
// JoinContext returns ctx's error and the join finishes in the background.
// After Shutdown it returns ErrShutdown and starts nothing.
func (m *Membership) JoinContext(ctx context.Context, addrs []string) (int, error) {
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1) // the join never blocks on a caller gone
	m.mu.Lock()
	select {
	case <-m.stop:
		m.mu.Unlock()
		return 0, ErrShutdown
	default:
	}
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		n, err := m.Join(addrs)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return r.n, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// JoinBackground retries Join with exponential backoff (capped at 30s) until
// another member is known or the membership shuts down. Reaching only this
// node's own address (a join list shared by every node, as in the
// Kubernetes manifest) does not count.
func (m *Membership) JoinBackground(addrs []string) {
	if len(addrs) == 0 {
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		wait := 200 * time.Millisecond
		for {
			_, err := m.Join(addrs)
			if err == nil && m.ml.NumMembers() > 1 {
				return
			}
			if err == nil {
				err = errors.New("only this node answered")
			}
			m.logger.Warn("join failed, retrying", "err", err, "in", wait)
			t := time.NewTimer(wait)
			select {
			case <-m.stop:
				t.Stop()
				return
			case <-t.C:
			}
			wait = min(2*wait, 30*time.Second)
		}
	}()
}

// Changes is pinged (coalesced) whenever a member joins, leaves, dies or
// changes its metadata.
func (m *Membership) Changes() <-chan struct{} { return m.changes }

func (m *Membership) changed() {
	select {
	case m.changes <- struct{}{}:
	default:
	}
}

// Members returns every member gossip has reported, sorted by ID, this
// node included. Raft fields (Voter, InConfig, Leader) are left false.
func (m *Membership) Members() []Member {
	// Never call into memberlist holding m.mu: memberlist holds its node
	// lock while it notifies record, which takes m.mu.
	addr := m.Addr()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Member, 0, len(m.members)+1)
	self := false
	for name, st := range m.members {
		if name == m.cfg.Name {
			self = true
		}
		out = append(out, memberOf(st))
	}
	if !self {
		out = append(out, memberOf(&memberState{meta: m.meta, addr: addr, status: StatusAlive}))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func memberOf(st *memberState) Member {
	return Member{
		ID: st.meta.ID, RaftAddr: st.meta.Raft, GRPCAddr: st.meta.GRPC, GossipAddr: st.addr,
		Status: st.status, AppliedIndex: st.meta.Applied, Expect: st.meta.Expect,
		Version: st.meta.Version, HasState: st.meta.HasState, ClusterID: st.meta.Cluster,
		DiskAlarm: st.meta.DiskAlarm, DiskFree: st.meta.DiskFree, DiskReserve: st.meta.DiskReserve,
		GossipLeader: st.meta.Leader,
	}
}

// Member returns the member with raft ID id.
func (m *Membership) Member(id string) (Member, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.members[id]
	if !ok {
		return Member{}, false
	}
	return memberOf(st), true
}

// GRPCAddrOf returns the gRPC address member id gossips, "" when unknown.
func (m *Membership) GRPCAddrOf(id string) string {
	if id == m.cfg.Name {
		return m.cfg.GRPCAddr
	}
	mb, _ := m.Member(id)
	return mb.GRPCAddr
}

// Leave broadcasts that this node leaves (bounded by ctx) and stops
// gossiping; others see it as left rather than dead.
func (m *Membership) Leave(ctx context.Context) error {
	m.leftOnce.Do(func() {
		timeout := 5 * time.Second
		if d, ok := ctx.Deadline(); ok {
			timeout = max(time.Until(d), 10*time.Millisecond)
		}
		m.mu.Lock()
		m.leaving = true
		m.meta = m.currentMetaLocked()
		m.mu.Unlock()
		if err := m.ml.UpdateNode(timeout / 4); err != nil {
			m.logger.Warn("gossiping the leave intent", "err", err)
		}
		m.sendLeaveNotices(timeout / 4)
		m.leftErr = m.ml.Leave(timeout)
		if m.leftErr == nil {
			// Give the broadcast a moment to spread beyond its first hop.
			t := time.NewTimer(200 * time.Millisecond)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		m.logger.Info("left gossip", "err", m.leftErr)
	})
	return m.leftErr
}

// Shutdown stops gossip without a leave message (others see this node
// die). It is idempotent.
func (m *Membership) Shutdown() error {
	var err error
	m.shutOnce.Do(func() {
		// Under mu: JoinContext adds to wg only while stop is open.
		m.mu.Lock()
		close(m.stop)
		m.mu.Unlock()
		m.wg.Wait()
		err = m.ml.Shutdown()
	})
	return err
}

func (m *Membership) currentMeta() nodeMeta {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.currentMetaLocked()
}

func (m *Membership) currentMetaLocked() nodeMeta {
	md := nodeMeta{ID: m.cfg.Name, Raft: m.cfg.RaftAddr, GRPC: m.cfg.GRPCAddr, Expect: m.cfg.BootstrapExpect, Version: m.cfg.Version, Leaving: m.leaving}
	if m.cfg.HasState != nil {
		md.HasState = m.cfg.HasState()
	}
	if m.cfg.Applied != nil {
		md.Applied = m.cfg.Applied()
	}
	if m.cfg.ClusterID != nil {
		md.Cluster = m.cfg.ClusterID()
	}
	if m.cfg.IsLeader != nil {
		md.Leader = m.cfg.IsLeader()
	}
	if m.cfg.Disk != nil {
		if alarm, free, reserve := m.cfg.Disk(); alarm {
			md.DiskAlarm, md.DiskFree, md.DiskReserve = true, free&^(1<<20-1), reserve
		}
	}
	return md
}

// mlGuard keeps nodes of another cluster out: memberlist drops their alive
// messages (NotifyAlive) and aborts joins and state merges with them
// (NotifyMerge), so the two gossip pools never become one.
type mlGuard Membership

func (g *mlGuard) check(n *memberlist.Node) error {
	m := (*Membership)(g)
	if m.cfg.ClusterID == nil || n.Name == m.cfg.Name {
		return nil
	}
	var md nodeMeta
	if err := json.Unmarshal(n.Meta, &md); err != nil {
		return nil // record() ignores and logs nodes without our metadata
	}
	if why := foreignCluster(m.cfg.ClusterID(), md.Cluster, n.Name); why != "" {
		m.logger.Warn("refusing gossip from another cluster", "member", n.Name, "addr", n.Address(), "reason", why)
		return errors.New("cluster: " + why)
	}
	return nil
}

func (g *mlGuard) NotifyAlive(n *memberlist.Node) error { return g.check(n) }

func (g *mlGuard) NotifyMerge(peers []*memberlist.Node) error {
	for _, n := range peers {
		if err := g.check(n); err != nil {
			return err
		}
	}
	return nil
}

// refreshLoop gossips changes of HasState, Applied, leadership, the
// cluster ID and the disk alarm.
func (m *Membership) refreshLoop() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.MetaRefresh)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		m.RefreshMeta()
	}
}

// RefreshMeta gossips this node's metadata now if it changed. The cluster
// calls it right after bootstrapping and after learning its cluster ID, so
// a fresh node starting just then sees that this one has raft state
// instead of counting it as a fresh server (MetaRefresh later).
func (m *Membership) RefreshMeta() {
	m.refreshMu.Lock() // one UpdateNode at a time, in order
	defer m.refreshMu.Unlock()
	m.mu.Lock()
	md := m.currentMetaLocked()
	same := md == m.meta
	m.meta = md
	m.mu.Unlock()
	if !same {
		if err := m.ml.UpdateNode(m.cfg.MetaRefresh); err != nil {
			m.logger.Debug("gossip metadata update", "err", err)
		}
	}
}

// mlDelegate supplies this node's metadata to memberlist.
type mlDelegate Membership

func (d *mlDelegate) NodeMeta(limit int) []byte {
	m := (*Membership)(d)
	m.mu.Lock()
	md := m.meta
	m.mu.Unlock()
	b, err := json.Marshal(md)
	if err != nil || len(b) > limit {
		m.logger.Error("node metadata too large for gossip", "bytes", len(b), "limit", limit)
		md.Version = ""
		b, _ = json.Marshal(md)
	}
	return b
}

// NotifyMsg takes the user messages of other members: only the leave
// notice (leaveNoticeMsg); anything else is ignored.
func (d *mlDelegate) NotifyMsg(b []byte) {
	if len(b) < 2 || len(b) > 1+maxNoticeName || b[0] != leaveNoticeMsg {
		return
	}
	(*Membership)(d).noteLeaving(string(b[1:]))
}
func (d *mlDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *mlDelegate) LocalState(join bool) []byte                { return nil }
func (d *mlDelegate) MergeRemoteState(buf []byte, join bool)     {}

// mlEvents records memberlist's join, leave and update notifications.
type mlEvents Membership

func (e *mlEvents) NotifyJoin(n *memberlist.Node)   { (*Membership)(e).record(n, StatusAlive) }
func (e *mlEvents) NotifyUpdate(n *memberlist.Node) { (*Membership)(e).record(n, StatusAlive) }
func (e *mlEvents) NotifyLeave(n *memberlist.Node) {
	m := (*Membership)(e)
	// memberlist's leave notification does not say whether the node
	// announced its own death (a graceful Leave) or was found dead: the
	// state it passes (Node.State) is never kept current. A node that
	// leaves says so first, directly to every member (leaveNoticeMsg), and
	// in its gossiped metadata; either one makes the departure a leave.
	// The metadata alone lost the race under load (the update had not
	// reached the leader before the leave did), so a node that left was
	// taken for dead and kept in the configuration
	// (TestLeaveWithoutHookAndAsLeader).
	status := StatusDead
	m.mu.Lock()
	if prev := m.members[n.Name]; prev != nil && (prev.meta.Leaving || prev.leaveNotice) {
		status = StatusLeft
	}
	m.mu.Unlock()
	m.record(n, status)
}

// leaveNoticeMsg tags the user message a leaving node sends every member
// over a TCP stream before it leaves gossip; the rest is its name.
const (
	leaveNoticeMsg = 1
	maxNoticeName  = 256
)

// sendLeaveNotices tells every live member, each over its own TCP stream,
// that this node is leaving, and waits up to d for the sends.
func (m *Membership) sendLeaveNotices(d time.Duration) {
	msg := append([]byte{leaveNoticeMsg}, m.cfg.Name...)
	var wg sync.WaitGroup
	for _, n := range m.ml.Members() {
		if n.Name == m.cfg.Name {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.ml.SendReliable(n, msg); err != nil {
				m.logger.Warn("sending the leave notice", "member", n.Name, "err", err)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		m.logger.Warn("leave notices not all sent in time", "wait", d)
	}
}

// noteLeaving records a member's leave notice. A member already taken
// for dead (its leave overtook the notice) becomes left.
func (m *Membership) noteLeaving(name string) {
	m.mu.Lock()
	st := m.members[name]
	if st == nil || name == m.cfg.Name {
		m.mu.Unlock()
		return
	}
	st.leaveNotice = true
	upgraded := st.status == StatusDead
	if upgraded {
		st.status, st.changed = StatusLeft, time.Now()
	}
	m.mu.Unlock()
	if upgraded {
		m.logger.Info("member "+StatusLeft, "member", name, "how", "leave notice after its departure")
		m.changed()
	}
}

func (m *Membership) record(n *memberlist.Node, status string) {
	var md nodeMeta
	if err := json.Unmarshal(n.Meta, &md); err != nil || md.ID == "" {
		m.logger.Warn("ignoring gossip member without FlowMesh metadata", "name", n.Name, "addr", n.Address())
		return
	}
	if md.ID != n.Name {
		m.logger.Warn("ignoring gossip member whose name is not its raft ID", "name", n.Name, "id", md.ID)
		return
	}
	m.mu.Lock()
	prev := m.members[n.Name]
	now := time.Now()
	st := &memberState{meta: md, addr: n.Address(), status: status, changed: now}
	if prev != nil && prev.status == status {
		st.changed = prev.changed
	}
	// A leave notice holds until the node is back (joins again).
	st.leaveNotice = prev != nil && prev.leaveNotice && !(status == StatusAlive && prev.status != StatusAlive)
	m.members[n.Name] = st
	for name, st := range m.members {
		if st.status != StatusAlive && now.Sub(st.changed) > reapAfter {
			delete(m.members, name)
		}
	}
	m.mu.Unlock()
	if prev == nil || prev.status != status || prev.meta.Raft != md.Raft {
		m.logger.Info("member "+status, "member", n.Name, "raft_addr", md.Raft, "grpc_addr", md.GRPC, "gossip_addr", n.Address())
	}
	m.changed()
}

// mlLogWriter turns memberlist's "[LEVEL] memberlist: ..." lines into slog.
type mlLogWriter struct{ logger *slog.Logger }

func (w *mlLogWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	lvl := slog.LevelInfo
	for _, l := range []struct {
		prefix string
		lvl    slog.Level
	}{{"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo}, {"[WARN]", slog.LevelWarn}, {"[ERR]", slog.LevelError}, {"[ERROR]", slog.LevelError}} {
		if rest, ok := cutPrefix(line, l.prefix); ok {
			lvl, line = l.lvl, rest
			break
		}
	}
	// memberlist's own errors about peers are routine in a cluster.
	if lvl == slog.LevelError {
		lvl = slog.LevelWarn
	}
	w.logger.Log(context.Background(), lvl, line)
	return len(p), nil
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return strings.TrimSpace(s[len(prefix):]), true
	}
	return s, false
}
