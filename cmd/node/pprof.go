package main

import (
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/flowmesh/flowmesh/internal/auth"
)

// pprofHandler serves the profiler without /debug/pprof/cmdline: the
// command line may hold secrets (a --gossip-key, say), auth on or off.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // named profiles: heap, goroutine, ...
	mux.HandleFunc("/debug/pprof/cmdline", http.NotFound)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// pprofAccess is how /debug/pprof is guarded: nil (not served) without
// --enable-pprof; open with it and no --auth-file; else only for a
// cluster-admin bearer token.
func pprofAccess(cfg *config, store *auth.Store) func(http.Handler) http.Handler {
	if !cfg.EnablePprof {
		return nil
	}
	if store == nil {
		return func(h http.Handler) http.Handler { return h }
	}
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
			if !strings.EqualFold(scheme, "bearer") || tok == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="flowmesh"`)
				http.Error(w, "pprof needs a cluster-admin bearer token", http.StatusUnauthorized)
				return
			}
			id, ok := store.Authenticate(strings.TrimSpace(tok))
			if !ok {
				http.Error(w, "unknown token", http.StatusUnauthorized)
				return
			}
			if !id.IsClusterAdmin() {
				http.Error(w, "subject "+id.Subject+" is not cluster-admin", http.StatusForbidden)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}
