// A user's program: it depends on FlowMesh only through go.mod, with no
// replace of FlowMesh's own dependencies. scripts/check-sdk-module.sh builds
// it in a fresh module outside the tree and runs it against a node.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/storage"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: sdkcheck GRPC-ADDR TLS-DIR")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := remote(ctx, os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
	if err := embedded(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "embedded:", err)
		os.Exit(1)
	}
}

// remote talks to a flowmesh-node over mutual TLS with the SDK.
func remote(ctx context.Context, addr, tlsDir string) error {
	pem, err := os.ReadFile(filepath.Join(tlsDir, "ca.crt"))
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("no certificate in %s/ca.crt", tlsDir)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, "client.crt"), filepath.Join(tlsDir, "client.key"))
	if err != nil {
		return err
	}
	c, err := client.New(client.Config{Endpoints: []string{addr},
		TLS: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	if err != nil {
		return err
	}
	defer c.Close()
	kv, err := c.CreateKVStore(ctx, "acme", "app", "config")
	if err != nil {
		return err
	}
	rev, err := c.Put(ctx, kv.GetPath(), "greeting", []byte("hello"), flowmesh.KVPutOptions{})
	if err != nil {
		return err
	}
	e, err := c.Get(ctx, kv.GetPath(), "greeting")
	if err != nil {
		return err
	}
	if string(e.Value) != "hello" || e.Revision != rev {
		return fmt.Errorf("get: %q at revision %d, want \"hello\" at %d", e.Value, e.Revision, rev)
	}
	fmt.Printf("client: put and got %q at revision %d\n", e.Value, e.Revision)
	return nil
}

// embedded runs a single node inside this program, with its logs on the
// program's slog handler and its metrics on the program's own registry,
// used through the root package's interfaces.
func embedded(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "sdkcheck-embedded")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var raftRecords atomic.Int64
	cfg := storage.DefaultConfig()
	cfg.DataDir = dir
	cfg.Logger = slog.New(countingHandler{raft: &raftRecords})
	s, err := storage.NewWithConfig(cfg)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	defer s.Stop(context.Background())
	reg := prometheus.NewRegistry()
	if err := s.RegisterMetrics(reg); err != nil {
		return err
	}
	var (
		resources flowmesh.ResourceManager = s
		queues    flowmesh.QueueManager    = s
	)
	q, err := resources.CreateQueue(ctx, "acme", "app", "jobs", 1)
	if err != nil {
		return err
	}
	id, _, err := queues.Enqueue(ctx, q.GetPath(), []byte("job"), storage.QueueEnqueueOptions{})
	if err != nil {
		return err
	}
	job, err := s.QueueManager().Reserve(ctx, q.GetPath(), 30*time.Second)
	if err != nil {
		return err
	}
	if job == nil || job.ID != id {
		return fmt.Errorf("reserve: got %v, want job %s", job, id)
	}
	fmt.Printf("embedded: enqueued and reserved job %s\n", job.ID)
	if err := queues.RemoveFromInFlight(ctx, q.GetPath(), job.ID); err != nil {
		return err
	}
	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	found := false
	for _, mf := range mfs {
		found = found || mf.GetName() == "flowmesh_queue_jobs"
	}
	if !found {
		return fmt.Errorf("the program's registry has no flowmesh_queue_jobs (%d families)", len(mfs))
	}
	if raftRecords.Load() == 0 {
		return fmt.Errorf("the program's slog handler got no raft record")
	}
	fmt.Printf("embedded: flowmesh_* series on the program's registry, %d raft log records on its handler\n", raftRecords.Load())
	return nil
}

// countingHandler discards records, counting raft's in raft.
type countingHandler struct {
	raft  *atomic.Int64
	attrs []slog.Attr
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) Handle(context.Context, slog.Record) error {
	for _, a := range h.attrs {
		if a.Key == "component" && a.Value.String() == "raft" {
			h.raft.Add(1)
		}
	}
	return nil
}
func (h countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return countingHandler{raft: h.raft, attrs: append(h.attrs[:len(h.attrs):len(h.attrs)], as...)}
}
func (h countingHandler) WithGroup(string) slog.Handler { return h }
