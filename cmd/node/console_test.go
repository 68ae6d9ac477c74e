package main

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/cluster"
	"github.com/flowmesh/flowmesh/internal/certs"
	"github.com/flowmesh/flowmesh/storage"
)

// getConsole GETs url with the Authorization header auth ("" for none)
// and returns the status and body.
func getConsole(t *testing.T, url, auth string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// row returns the <tr> of table id whose attributes hold attr ("" if none).
func row(page, id, attr string) string {
	i := strings.Index(page, `<table id="`+id+`">`)
	if i < 0 {
		return ""
	}
	table := page[i:]
	table = table[:strings.Index(table, "</table>")]
	j := strings.Index(table, "<tr "+attr)
	if j < 0 {
		return ""
	}
	r := table[j:]
	return r[:strings.Index(r, "</tr>")]
}

// cell returns the text of the <td> with class cls in r.
func cell(r, cls string) string {
	m := regexp.MustCompile(`<td class="[^"]*\b` + cls + `\b[^"]*">([^<]*)</td>`).FindStringSubmatch(r)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestConsole: a node with --auth-file shows /console to a cluster-admin
// only (bearer token or the token as a Basic password), and the page
// carries the node's raft state, itself as the leader among the members,
// the queue's depths and dead job, the consumer group's lag per
// partition, the tenants' usage, the leader change that made it leader,
// and nothing else (no script, no asset).
func TestConsole(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	admin := addToken(t, file, "ops", "cluster-admin")
	tenant := addToken(t, file, "app", "t1:admin")
	p := startNode(t, t.TempDir(), "--id", "n1", "--auth-file", file)
	url := "http://" + p.httpAddr + "/console"

	for _, c := range []struct {
		name, auth string
		want       int
	}{
		{"no credential", "", http.StatusUnauthorized},
		{"unknown token", "Bearer nope", http.StatusUnauthorized},
		{"a tenant's admin", "Bearer " + tenant, http.StatusForbidden},
		{"other scheme", "Digest x", http.StatusUnauthorized},
		{"cluster-admin", "Bearer " + admin, http.StatusOK},
		{"cluster-admin as Basic password", basic("anyone", admin), http.StatusOK},
		{"tenant as Basic password", basic("anyone", tenant), http.StatusForbidden},
	} {
		code, body, h := getConsole(t, url, c.auth)
		if code != c.want {
			t.Errorf("%s: %d, want %d (%s)", c.name, code, c.want, strings.TrimSpace(body))
		}
		if code == http.StatusUnauthorized && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%s: 401 with WWW-Authenticate %q: a browser would not prompt", c.name, h.Get("WWW-Authenticate"))
		}
		if code != http.StatusOK && strings.Contains(body, "<table") {
			t.Errorf("%s: refused, yet the body holds the page", c.name)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := authClient(t, p.grpcAddr, admin)
	if _, err := c.CreateQueue(ctx, "t1", "ns1", "jobs", 1, flowmesh.WithMaxAttempts(1)); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, _, err := c.Enqueue(ctx, "t1/ns1/jobs", []byte(fmt.Sprint(i)), flowmesh.QueueEnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// One job dies (nacked on its last allowed attempt), one stays in flight.
	j, err := c.Reserve(ctx, "t1/ns1/jobs", time.Minute)
	if err != nil || j == nil {
		t.Fatalf("reserve: %v, %v", j, err)
	}
	if err := c.Nack(ctx, "t1/ns1/jobs", j.Receipt, 0); err != nil {
		t.Fatal(err)
	}
	if j, err := c.Reserve(ctx, "t1/ns1/jobs", time.Minute); err != nil || j == nil {
		t.Fatalf("reserve: %v, %v", j, err)
	}
	if _, err := c.CreateStream(ctx, "t2", "app", "events", 2); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := c.WriteEvents(ctx, "t2/app/events", []flowmesh.StreamEvent{{Payload: []byte("e"), Key: fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	var next [2]uint64
	for i := range 2 {
		pi, err := c.PartitionInfo(ctx, "t2/app/events", i)
		if err != nil {
			t.Fatal(err)
		}
		next[i] = pi.Next
	}
	if next[0] < 2 || next[1] < 2 {
		t.Fatalf("the keys spread the events %v over the partitions; the test needs 2 or more in each", next)
	}
	if err := c.CommitOffset(ctx, "t2/app/events", "billing", 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.CommitOffset(ctx, "t2/app/events", "billing", 1, next[1]); err != nil {
		t.Fatal(err)
	}
	code, page, h := getConsole(t, url, "Bearer "+admin)
	if code != http.StatusOK {
		t.Fatalf("console: %d\n%s", code, page)
	}
	if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'; style-src 'sha256-") {
		t.Errorf("Content-Security-Policy %q: want nothing but the page's own style", csp)
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "src=") {
		t.Errorf("the page loads a script or an asset")
	}
	if !strings.Contains(page, `<meta http-equiv="refresh" content="5">`) {
		t.Errorf("the page does not refresh itself every 5 s")
	}
	for _, want := range []string{`id="node-id">n1<`, `id="node-role">leader<`, `id="leader-id">n1<`} {
		if !strings.Contains(page, want) {
			t.Errorf("the header lacks %s", want)
		}
	}
	if r := row(page, "members", `data-id="n1"`); !strings.Contains(r, `<span class="leader">leader</span>`) {
		t.Errorf("members: n1's row %q does not say leader", r)
	}
	q := row(page, "queues", `data-path="t1/ns1/jobs"`)
	for cls, want := range map[string]string{"ready": "3", "inflight": "1", "dead": "1", "delayed": "0"} {
		if got := cell(q, cls); got != want {
			t.Errorf("queue t1/ns1/jobs %s = %q, want %s (row %q)", cls, got, want, q)
		}
	}
	for part, want := range []uint64{next[0] - 1, 0} {
		r := row(page, "groups", fmt.Sprintf(`data-path="t2/app/events" data-group="billing" data-partition="%d"`, part))
		if got := cell(r, "lag"); got != fmt.Sprint(want) {
			t.Errorf("group billing partition %d lag = %q, want %d (row %q)", part, got, want, r)
		}
	}
	if r := row(page, "streams", `data-path="t2/app/events"`); cell(r, "events") != "10" {
		t.Errorf("stream t2/app/events retains %q events, want 10 (row %q)", cell(r, "events"), r)
	}
	for _, tn := range []string{"t1", "t2"} {
		if row(page, "tenants", `data-tenant="`+tn+`"`) == "" {
			t.Errorf("tenants: no row for %s", tn)
		}
	}
	if !regexp.MustCompile(`<table id="leaders">[\s\S]*<b>n1</b>`).MatchString(page) {
		t.Errorf("leader changes do not show n1 becoming leader")
	}
	if code, body, _ := getConsole(t, url+"?refresh=0", "Bearer "+admin); code != http.StatusOK || strings.Contains(body, "http-equiv") {
		t.Errorf("?refresh=0: %d, still refreshing: %v", code, strings.Contains(body, "http-equiv"))
	}
	if code, body, _ := getConsole(t, url+"?refresh=soon", "Bearer "+admin); code != http.StatusBadRequest || !strings.Contains(body, "refresh") {
		t.Errorf("?refresh=soon: %d %q, want 400 naming refresh", code, body)
	}
}

func basic(user, pass string) string {
	r, _ := http.NewRequest("GET", "http://x", nil)
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}

// TestConsoleEscapes: every value reaches the page as text, never markup
// (names are validated, but the page must not rely on it).
func TestConsoleEscapes(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	page := &consolePage{CSS: template.CSS(consoleCSS), Node: evil, Generated: time.Now()}
	page.Status.State, page.Status.LeaderID = "leader", evil
	page.Members = append(page.Members, cluster.Member{ID: evil, Status: evil, Version: evil})
	page.Queues = append(page.Queues, queueRow{Path: evil, Err: evil})
	page.Groups = append(page.Groups, groupRow{Path: evil, Group: evil})
	page.Tenants = append(page.Tenants, tenantRow{Tenant: evil})
	page.Leaders = append(page.Leaders, cluster.LeaderChange{LeaderID: evil, Addr: evil})
	var b strings.Builder
	if err := consoleTmpl.Execute(&b, page); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "<script") {
		t.Fatalf("the page holds an unescaped value:\n%s", b.String())
	}
	if n := strings.Count(b.String(), "&lt;script&gt;"); n < 8 {
		t.Errorf("the value appears escaped %d times, want every place it was put", n)
	}
}

// TestConsoleClientCert: on a node run with --tls-dir, the console is
// served over HTTPS to the admin client certificate (its CN has a
// cluster-admin cert entry in the auth file certs init wrote) and refused
// to a TLS client without one.
func TestConsoleClientCert(t *testing.T) {
	dir := certsInit(t)
	_, hc := tlsClients(t, dir)
	p := startNodeWith(t, t.TempDir(), "https", hc, "--tls-dir", dir)
	url := "https://" + p.httpAddr + "/console"
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `<table id="members">`) {
		t.Errorf("console with the admin client certificate: %d\n%s", resp.StatusCode, b)
	}
	caOnly, err := certs.Load(certs.Files{CA: filepath.Join(dir, certs.CAFile)})
	if err != nil {
		t.Fatal(err)
	}
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: certs.ClientConfig(nil, caOnly, true)}, Timeout: 10 * time.Second}
	resp, err = anon.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("console over TLS without a certificate or token: %d, want 401\n%s", resp.StatusCode, b)
	}
}

// TestConsoleCaps: each table stops at consoleRows rows and says how
// many more there are.
func TestConsoleCaps(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: creates 503 queues")
	}
	ctx := context.Background()
	cfg := storage.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Logger = slog.New(slog.DiscardHandler)
	node, err := storage.NewWithConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Stop(context.Background()) })
	const extra = 3
	var wg sync.WaitGroup
	errs := make(chan error, consoleRows+extra)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < consoleRows+extra; i += 8 {
				if _, err := node.MetaStore().CreateQueue(ctx, "t1", "ns", fmt.Sprintf("q%04d", i), 1); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	consoleHandler(node, cfg.Logger).ServeHTTP(rec, httptest.NewRequest("GET", "/console", nil))
	page := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("console: %d\n%s", rec.Code, page)
	}
	for _, table := range []string{"queues", "resources"} {
		i := strings.Index(page, `<table id="`+table+`">`)
		if i < 0 {
			t.Fatalf("no %s table", table)
		}
		body := page[i:]
		body = body[:strings.Index(body, "</table>")]
		if n := strings.Count(body, "<tr data-path="); n != consoleRows {
			t.Errorf("%s table has %d rows, want %d", table, n, consoleRows)
		}
		if want := fmt.Sprintf("%d more %s not shown", extra, table); !strings.Contains(page, want) {
			t.Errorf("the page does not say %q", want)
		}
	}
	if strings.Contains(page, `data-path="t1/ns/q0500"`) {
		t.Errorf("a row past the cap is on the page")
	}
}
