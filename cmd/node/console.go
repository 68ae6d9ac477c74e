package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/cluster"
	"github.com/flowmesh/flowmesh/internal/auth"
	"github.com/flowmesh/flowmesh/internal/buildinfo"
	"github.com/flowmesh/flowmesh/internal/human"
	"github.com/flowmesh/flowmesh/storage"
)

// The console is a read-only HTML page on the admin port (GET /console):
// this node's raft state and view of the members, per-tenant usage, every
// resource, queue depths and dead jobs, stream sizes, consumer-group lag
// and the leader changes this node observed. Like /metrics it reads only
// this node's own state (stale reads, no call to the leader), so a
// follower's page may trail the leader's by its replication lag. It is
// server-rendered (html/template, which escapes every value), refreshes
// itself with <meta http-equiv="refresh">, and loads nothing else: no
// script, no external asset, a Content-Security-Policy that allows only
// its own inline style.

//go:embed console/console.html
var consoleHTML string

//go:embed console/console.css
var consoleCSS string

// consoleRows caps each of the page's tables; the rest is counted in a
// "N more" line. consoleTimeout bounds the reads behind one page.
const (
	consoleRows    = 500
	consoleTimeout = 5 * time.Second
	// consoleRefresh is the default refresh period in seconds; ?refresh=N
	// sets it (0 turns it off, at most consoleMaxRefresh).
	consoleRefresh    = 5
	consoleMaxRefresh = 3600
)

var (
	consoleTmpl = template.Must(template.New("console").Funcs(template.FuncMap{
		"bytes":   human.Bytes,
		"ago":     ago,
		"dur":     func(d time.Duration) string { return d.Round(time.Millisecond).String() },
		"limit":   limitOf,
		"blimit":  bytesLimitOf,
		"time":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000 UTC") },
		"percent": func(a, b uint64) uint64 { return a * 100 / max(b, 1) },
	}).Parse(consoleHTML))
	// consoleCSP allows the page's one inline style block (by its hash)
	// and nothing else.
	consoleCSP = func() string {
		h := sha256.Sum256([]byte(consoleCSS))
		return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'"
	}()
)

// consolePage is what the template renders.
type consolePage struct {
	CSS       template.CSS
	Refresh   int
	Generated time.Time
	Version   string

	Node        string
	Status      cluster.Status
	StatusErr   string
	LastContact time.Time // followers: the last time the leader was heard from
	DiskFree    int64
	DiskReserve int64
	DiskAlarm   string

	Members     []cluster.Member
	Leaders     []cluster.LeaderChange
	LeaderTotal int

	Tenants   []tenantRow
	Resources []*flowmesh.Resource
	Queues    []queueRow
	Streams   []streamRow
	Groups    []groupRow
	// More counts the rows each table left out.
	More struct{ Tenants, Resources, Queues, Streams, Groups int }
}

type tenantRow struct {
	Tenant        string
	Usage, Limits flowmesh.QuotaValues
}

type queueRow struct {
	Path  string
	Stats flowmesh.QueueStats
	Err   string
}

type streamRow struct {
	Path       string
	Partitions int
	Events     uint64 // retained: next - earliest, summed over partitions
	Bytes      int64
	Err        string
}

type groupRow struct {
	Path      string
	Group     string
	Partition int
	Committed uint64
	Next      uint64
	Lag       uint64 // events from the committed offset (or the earliest retained) to next
	Err       string
}

// consoleHandler serves the console page of node.
func consoleHandler(node *storage.Storage, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refresh := consoleRefresh
		if v := r.URL.Query().Get("refresh"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > consoleMaxRefresh {
				http.Error(w, fmt.Sprintf("refresh: %q is not a number of seconds in 0..%d", v, consoleMaxRefresh), http.StatusBadRequest)
				return
			}
			refresh = n
		}
		ctx, cancel := context.WithTimeout(r.Context(), consoleTimeout)
		defer cancel()
		page := readConsole(ctx, node)
		page.Refresh = refresh
		var buf bytes.Buffer
		if err := consoleTmpl.Execute(&buf, page); err != nil {
			log.Error("console: rendering failed", "error", err)
			http.Error(w, "console: rendering failed", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		w.Write(buf.Bytes())
	})
}

// readConsole gathers the page from node's own state.
func readConsole(ctx context.Context, node *storage.Storage) *consolePage {
	p := &consolePage{CSS: template.CSS(consoleCSS), Generated: time.Now(), Version: buildinfo.Version()}
	st, err := node.Status()
	if err != nil {
		p.StatusErr = err.Error()
		return p
	}
	p.Status, p.Node = st, st.ID
	if c := node.Cluster(); c != nil {
		if st.State != "leader" {
			p.LastContact = c.Raft().LastContact()
		}
		p.Leaders, p.LeaderTotal = c.LeaderChanges()
	}
	p.DiskFree, p.DiskReserve, _ = node.LocalDisk()
	if err := node.DiskAlarm(); err != nil {
		p.DiskAlarm = err.Error()
	}
	p.Members = node.Members()

	tenants, usage := node.QuotaUsage()
	for i, t := range tenants {
		if len(p.Tenants) == consoleRows {
			p.More.Tenants = len(tenants) - i
			break
		}
		p.Tenants = append(p.Tenants, tenantRow{Tenant: t, Usage: usage[i], Limits: node.QuotaLimits(t)})
	}

	local := flowmesh.WithConsistency(flowmesh.Stale)
	resources := node.LocalResources()
	p.Resources = resources[:min(len(resources), consoleRows)]
	p.More.Resources = len(resources) - len(p.Resources)
	for _, r := range resources {
		switch r.Kind {
		case flowmesh.KindQueue:
			if len(p.Queues) == consoleRows {
				p.More.Queues++
				continue
			}
			row := queueRow{Path: r.GetPath()}
			if qs, err := node.QueueManager().Stats(ctx, row.Path, local); err != nil {
				row.Err = err.Error()
			} else {
				row.Stats = qs
			}
			p.Queues = append(p.Queues, row)
		case flowmesh.KindStream:
			if len(p.Streams) == consoleRows {
				p.More.Streams++
				continue
			}
			row := streamRow{Path: r.GetPath()}
			if r.Stream != nil {
				row.Partitions = r.Stream.Partitions
			}
			for i := range row.Partitions {
				pi, err := node.StreamManager().PartitionInfo(ctx, row.Path, i, local)
				if err != nil {
					row.Err = err.Error()
					break
				}
				row.Events += pi.Next - min(pi.Earliest, pi.Next)
				row.Bytes += pi.Bytes
			}
			p.Streams = append(p.Streams, row)
		}
	}

	groups, total := node.LocalGroupOffsets(consoleRows)
	p.More.Groups = total - len(groups)
	type part struct {
		path string
		i    int
	}
	infos := map[part]flowmesh.PartitionInfo{}
	for _, g := range groups {
		row := groupRow{Path: g.Path, Group: g.Group, Partition: g.Partition, Committed: g.Offset}
		pi, ok := infos[part{g.Path, g.Partition}]
		if !ok {
			var err error
			if pi, err = node.StreamManager().PartitionInfo(ctx, g.Path, g.Partition, local); err != nil {
				row.Err = err.Error()
				p.Groups = append(p.Groups, row)
				continue
			}
			infos[part{g.Path, g.Partition}] = pi
		}
		row.Next = pi.Next
		row.Lag = pi.Lag(g.Offset)
		p.Groups = append(p.Groups, row)
	}
	return p
}

// consoleAccess guards the console: open without --auth-file; else it
// shows every tenant's names, so only a cluster-admin may look: a bearer
// token, the token as a Basic password (the browser's login prompt; any
// user name), or a verified client certificate whose CN has a cert entry.
func consoleAccess(store *auth.Store, h http.Handler) http.Handler {
	if store == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok, why := adminIdentity(store, r)
		switch {
		case !ok:
			w.Header().Set("WWW-Authenticate", `Basic realm="flowmesh console", charset="UTF-8"`)
			http.Error(w, "console: "+why, http.StatusUnauthorized)
		case !id.IsClusterAdmin():
			http.Error(w, "console: subject "+id.Subject+" is not cluster-admin", http.StatusForbidden)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// adminIdentity authenticates an admin-port request: Authorization Bearer
// or Basic (the token is the password), else the TLS client certificate
// the handshake verified. why says what is missing or wrong when !ok.
func adminIdentity(store *auth.Store, r *http.Request) (id auth.Identity, ok bool, why string) {
	if v := r.Header.Get("Authorization"); v != "" {
		tok := ""
		if scheme, rest, _ := strings.Cut(v, " "); strings.EqualFold(scheme, "bearer") {
			tok = strings.TrimSpace(rest)
		} else if _, pw, basic := r.BasicAuth(); basic {
			tok = pw
		} else {
			return id, false, "the Authorization header is neither Bearer nor Basic"
		}
		if id, ok = store.Authenticate(tok); !ok {
			return id, false, "unknown token"
		}
		return id, true, ""
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		cn := r.TLS.PeerCertificates[0].Subject.CommonName
		if id, ok = store.Cert(cn); !ok {
			return id, false, fmt.Sprintf("client certificate CN %q has no cert entry in the token file", cn)
		}
		return id, true, ""
	}
	return id, false, "needs a cluster-admin token (Bearer, or as the Basic password) or client certificate"
}

// ago is how long before now t was, to the second ("" for a zero time).
func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

// bytesLimitOf shows a quota limit in bytes (0 is unlimited).
func bytesLimitOf(n int64) string {
	if n == 0 {
		return "∞"
	}
	return human.Bytes(n)
}

// limitOf shows a quota limit (0 is unlimited).
func limitOf(n int64) string {
	if n == 0 {
		return "∞"
	}
	return strconv.FormatInt(n, 10)
}
