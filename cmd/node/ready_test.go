package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/internal/freeport"
)

// getReadyz returns /readyz's status code and body.
func getReadyz(p *proc) (int, string, error) {
	resp, err := http.Get("http://" + p.httpAddr + "/readyz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// A node that joins nobody (its join address answers nothing) is not
// ready and says it is not in a raft configuration, on /readyz and in its
// status; once it joins a running node, that node's leader adds it, it
// catches up and /readyz says ready.
func TestReadyzSaysWhy(t *testing.T) {
	a := startNode(t, t.TempDir())
	ca := newClient(t, a.grpcAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := ca.CreateKVStore(ctx, "t", "ns", "kv"); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := ca.Put(ctx, "t/ns/kv", fmt.Sprintf("k%d", i), []byte("v"), flowmesh.KVPutOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	b := launchProc(t, nodeBinary(t), t.TempDir(), "--join", freeport.Addr(t))
	const want = "not ready: not in a raft configuration yet"
	pollUntil(t, 30*time.Second, "/readyz of the node that joined nobody", func() error {
		code, body, err := getReadyz(b)
		if err != nil {
			return err
		}
		if code != http.StatusServiceUnavailable || !strings.HasPrefix(body, want) {
			return fmt.Errorf("%d %q, want 503 %q...", code, body, want)
		}
		return nil
	})
	cb := newClient(t, b.grpcAddr)
	st, err := cb.StatusOf(ctx, b.grpcAddr)
	if err != nil {
		t.Fatal(err)
	}
	if st.Ready || st.Readiness != "joining" || st.Health != "joining" || !strings.Contains(st.NotReadyReason, "not in a raft configuration yet") {
		t.Errorf("status of the node that joined nobody: %+v", st)
	}

	if _, err := cb.Join(ctx, a.gossipAddr); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 60*time.Second, "/readyz of the node once added", func() error {
		code, body, err := getReadyz(b)
		if err != nil {
			return err
		}
		if code != http.StatusOK || body != "ready\n" {
			return fmt.Errorf("%d %q", code, body)
		}
		return nil
	})
	st, err = cb.StatusOf(ctx, b.grpcAddr)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Ready || st.Readiness != "ready" || st.NotReadyReason != "" || st.AppliedIndex < 50 {
		t.Errorf("status of the added node: %+v", st)
	}
}

// pollUntil polls cond every 50 ms until it returns nil, for up to d.
func pollUntil(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting %v for %s: %v", d, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
