package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/flowmesh/flowmesh/internal/auth"
)

// openAuth loads --auth-file, or warns loudly that the node is open.
func openAuth(cfg *config, log *slog.Logger) (*auth.Store, error) {
	if cfg.AuthFile == "" {
		log.Warn("authentication is off: any client can read and destroy every tenant's data; start with --auth-file (see flowmesh-node token add)")
		return nil, nil
	}
	s, err := auth.Open(cfg.AuthFile)
	if err != nil {
		return nil, fmt.Errorf("--auth-file: %w", err)
	}
	log.Info("authentication on", "auth_file", cfg.AuthFile, "entries", s.Len())
	return s, nil
}

// reloader is one thing SIGHUP re-reads (the token file; certificates).
type reloader struct {
	name   string
	reload func() error
}

// reloadable lists what SIGHUP re-reads: the token file and the TLS files,
// those in use.
func reloadable(store *auth.Store, tlsm *nodeTLS) []reloader {
	var rs []reloader
	if store != nil {
		rs = append(rs, reloader{"auth file", store.Reload})
	}
	if tlsm.enabled() {
		rs = append(rs, reloader{"TLS certificates and CAs", tlsm.reload})
	}
	return rs
}

// reloadOnSIGHUP runs every reloader on each SIGHUP until the returned
// stop is called. A failed reload keeps what was loaded before and is
// logged; the node keeps serving.
func reloadOnSIGHUP(log *slog.Logger, rs ...reloader) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-done:
				return
			case <-hup:
				for _, r := range rs {
					if err := r.reload(); err != nil {
						log.Error("SIGHUP: reload failed; keeping the previous one", "what", r.name, "error", err)
					} else {
						log.Info("SIGHUP: reloaded", "what", r.name)
					}
				}
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-exited
	}
}

// runToken is "flowmesh-node token add --file FILE --subject NAME --grant G
// [--grant G...]": it prints a new token once and stores only its hash.
func runToken(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprintln(stderr, "usage: flowmesh-node token add --file FILE --subject NAME --grant GRANT [--grant GRANT...]")
		return 2
	}
	fs := flag.NewFlagSet("flowmesh-node token add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("file", "", "token file (created 0600 when missing); the node's --auth-file")
	subject := fs.String("subject", "", "who the token is for (letters, digits, ._@-)")
	var grants listFlag
	fs.Var(&grants, "grant", "cluster-admin or TENANT[/NAMESPACE-PREFIX]:read|write|admin; repeatable or comma-separated")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: flowmesh-node token add --file FILE --subject NAME --grant GRANT [--grant GRANT...]\n\nCreates a token, appends its SHA-256 to FILE and prints the token once.\nA running node picks it up on SIGHUP.\n\nFlags:")
		printFlags(stderr, fs)
	}
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "flowmesh-node token add: unexpected arguments %q\n", fs.Args())
		return 2
	case *file == "":
		fmt.Fprintln(stderr, "flowmesh-node token add: --file is required")
		return 2
	case *subject == "":
		fmt.Fprintln(stderr, "flowmesh-node token add: --subject is required")
		return 2
	case len(grants) == 0:
		fmt.Fprintln(stderr, "flowmesh-node token add: at least one --grant is required")
		return 2
	}
	tok, err := auth.AddToken(*file, *subject, grants)
	if err != nil {
		fmt.Fprintf(stderr, "flowmesh-node token add: %v\n", err)
		return 2
	}
	fmt.Fprintln(stdout, tok)
	return 0
}
