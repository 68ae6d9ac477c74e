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
// 127.0.0.1:7400, or FLOWMESH_ENDPOINTS), --timeout (per command, not for
// tail/watch/bench), -o table|json, TLS: --cacert (the CA that verifies
// the nodes; TLS on when set), --cert and --key (a client certificate), or
// FLOWMESH_CACERT, FLOWMESH_CERT, FLOWMESH_KEY (a file that cannot be used
// is a usage error naming it), and --token or --token-file (a bearer token
// for a node with --auth-file; FLOWMESH_TOKEN, FLOWMESH_TOKEN_FILE; read
// from the environment at run time so --help never shows one).
//
// Quotas: "flowmesh quota set TENANT --stored-bytes N --resources N
// --partitions N --kv-keys N --queue-jobs N [--reset]" changes only the
// fields given (0: unlimited; TENANT "*" is the cluster default) and
// "flowmesh quota get TENANT" shows each quota's use, effective limit and
// whether it is the tenant's own or the default's (-o json: {"tenant",
// "quotas": [{"quota", "used", "limit", "source"}]}).
//
// Payloads come from arguments, from --file, or from standard input when
// the argument (or --file) is "-".
//
// Exit status: 0 success, 1 the server (or the connection to it) failed the
// request, 2 usage: bad flags, arguments or paths, detected before any call.
package main
