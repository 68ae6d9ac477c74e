// Command flowmesh is the FlowMesh command-line client: resource, stream,
// queue and KV verbs, cluster status, and a load generator (bench).
//
// Resources are named by their path, tenant/namespace/name:
//
//	flowmesh kv create t1/ns1/cfg
//	flowmesh kv put t1/ns1/cfg greeting hello
//	flowmesh kv get t1/ns1/cfg greeting
//
// Global flags: --endpoints (comma-separated host:port list, default
// 127.0.0.1:7400), --timeout (per command, not for tail/watch/bench),
// -o table|json, --consistency, TLS: --cacert (the CA that verifies the
// nodes; TLS on when set), --cert and --key (a client certificate; a file
// that cannot be used is a usage error naming it), --token or --token-file
// (a bearer token for a node with --auth-file), and --context. Each has a
// variable, FLOWMESH_ and the flag's name in capitals with "-" as "_"
// (FLOWMESH_TIMEOUT, FLOWMESH_TOKEN_FILE, ...), read at run time so --help
// never shows a token (settings.go). A setting comes from the flag, else the
// variable, else the context, else the default; a bad variable is a usage
// error naming it.
//
// Contexts (contexts.go) are saved connection settings, as in nats context:
// "flowmesh context save NAME --endpoints ... --cacert ... --token-file ..."
// writes the flags given to $XDG_CONFIG_HOME/flowmesh/contexts/NAME.json
// (else ~/.config/flowmesh), mode 0600; a token only when given with
// --token. --context NAME, FLOWMESH_CONTEXT or "context select NAME" picks
// one; context list, show, unselect and rm manage them.
//
// JSON output (output.go) follows protojson with proto names: snake_case
// fields, bytes (payloads, KV values) in base64, durations as "1.5s",
// timestamps RFC 3339 UTC, integers as numbers, absent values left out.
// In text output --raw writes payload bytes exactly (kv get, stream read and
// tail, queue reserve) and --base64 shows them in base64; on input --base64
// (kv put, stream write, queue enqueue) takes base64 and --file a file's
// bytes.
//
// Shell completion (complete.go) completes resource paths by listing the
// cluster's resources (TENANT/ gives namespaces, TENANT/NS/ names of the
// command's kind) and KV keys, and never offers file names for them.
//
// Quotas: "flowmesh quota set TENANT --stored-bytes N --resources N
// --partitions N --kv-keys N --queue-jobs N [--reset]" changes only the
// fields given (0: unlimited; TENANT "*" is the cluster default) and
// "flowmesh quota get TENANT" shows each quota's use, effective limit and
// whether it is the tenant's own or the default's (-o json: {"tenant",
// "quotas": [{"quota", "used", "limit", "source"}]}).
//
// cluster status asks every --endpoints address and every member at the
// gRPC address it advertises; a member that answered at an endpoint is not
// shown again as unreachable at its advertised address, which outside the
// nodes' network (the host, through docker's published ports) need not
// resolve. A member it could ask at neither is a row naming it, and exit 1.
//
// Payloads come from arguments, from --file, or from standard input when
// the argument (or --file) is "-".
//
// Exit status: 0 success, 1 the server (or the connection to it) failed the
// request, 2 usage: bad flags, arguments or paths, detected before any call.
package main
