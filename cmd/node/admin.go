package main

import (
	"fmt"
	"net/http"

	"github.com/flowmesh/flowmesh/internal/metrics"
	"github.com/flowmesh/flowmesh/storage"
)

// adminHandler serves /healthz, /readyz, /metrics, the console when it is
// not nil (console.go) and, when pprof is not nil, /debug/pprof/ behind it
// (pprof.go).
func adminHandler(node *storage.Storage, reg *metrics.Registry, console http.Handler, pprof func(http.Handler) http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		// Ready decides (storage/ready.go); this only renders it.
		if rd := node.Ready(r.Context()); !rd.Ready {
			http.Error(w, "not ready: "+rd.Reason, http.StatusServiceUnavailable)
			return
		}
		// A disk alarm leaves the node ready: it serves reads, watches
		// and the writes that free space, and neither taking it out of a
		// load balancer nor restarting it frees a byte (doc.go, "Disk
		// full"). The alarm is in a header and the body instead.
		if err := node.DiskAlarm(); err != nil {
			w.Header().Set(alarmHeader, "NOSPACE")
			fmt.Fprintf(w, "ready\nalarm NOSPACE: %v\n", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", reg.Handler())
	if console != nil {
		mux.Handle("GET /console", console)
	}
	if pprof != nil {
		mux.Handle("/debug/pprof/", pprof(pprofHandler()))
	}
	return mux
}

// alarmHeader is set on /readyz while an alarm is raised; its value names
// the alarm (NOSPACE: a node of the cluster is short of disk).
const alarmHeader = "Flowmesh-Alarm"
