package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/flowmesh/flowmesh/internal/auth"
	"github.com/flowmesh/flowmesh/internal/certs"
)

// certsCmd runs "certs init DIR [--hosts h1,h2]": it writes a CA, node,
// client and peer certificates and a gossip key for a local cluster.
// authFileName is the auth file certs init writes beside the certificates;
// --tls-dir turns authentication on with it.
const authFileName = "auth"

func certsCmd(args []string, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintf(stderr, "Usage: flowmesh-node certs init DIR [--hosts h1,h2,...]\n\n"+
			"Writes a CA, a server certificate (SANs localhost, 127.0.0.1, ::1 and --hosts),\n"+
			"an admin client certificate, a peer CA and peer certificate, and a gossip key into DIR.\n"+
			"Never overwrites a file. Keep ca.key and peer-ca.key offline once certificates are made.\n")
	}
	if len(args) == 0 || args[0] != "init" {
		usage()
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return 0
		}
		return 2
	}
	var hosts listFlag
	fs := flag.NewFlagSet("flowmesh-node certs init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&hosts, "hosts", "extra DNS names or IPs of the nodes, comma-separated or repeated")
	ifMissing := fs.Bool("if-missing", false, "do nothing (exit 0) when DIR already holds a CA, e.g. in a container started again")
	fs.Usage = usage
	// DIR may come before or after the flags.
	rest := args[1:]
	var pos []string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		pos, rest = rest[:1], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	pos = append(pos, fs.Args()...)
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "flowmesh-node certs init: want one directory, got %q\n", pos)
		return 2
	}
	dir := pos[0]
	if _, err := os.Stat(filepath.Join(dir, certs.CAFile)); err == nil && *ifMissing {
		fmt.Fprintf(stderr, "%s already holds a CA: keeping it (--if-missing)\n", dir)
		return 0
	}
	if err := certs.Generate(dir, hosts); err != nil {
		fmt.Fprintf(stderr, "flowmesh-node certs init: %v\n", err)
		if errors.Is(err, certs.ErrExists) {
			return 2
		}
		return 1
	}
	// The admin client certificate is cluster-admin in the auth file that
	// --tls-dir turns on, so the secure setup needs nothing else.
	authFile := filepath.Join(dir, authFileName)
	if err := auth.AddCert(authFile, certs.ClientCN, []string{auth.ClusterAdmin}); err != nil {
		fmt.Fprintf(stderr, "flowmesh-node certs init: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "Wrote into %s:\n", dir)
	for _, f := range append(certs.GeneratedFiles, authFileName) {
		fmt.Fprintf(stderr, "  %s\n", filepath.Join(dir, f))
	}
	fmt.Fprintf(stderr, "\nStart every node with:\n  flowmesh-node --tls-dir %s ...\n"+
		"(TLS, mTLS between nodes, the gossip key, and authentication with %s, where the\n"+
		"certificate %s is cluster-admin) and clients with:\n  flowmesh --cacert %s --cert %s --key %s ...\n"+
		"Tokens for programs: flowmesh-node token add --file %s --subject NAME --grant TENANT:write\n"+
		"Reload certificates and the auth file without a restart: kill -HUP <pid>\n",
		dir, authFile, certs.ClientCertFile, filepath.Join(dir, certs.CAFile), filepath.Join(dir, certs.ClientCertFile), filepath.Join(dir, certs.ClientKeyFile), authFile)
	return 0
}
