package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/internal/certs"
)

// Exit statuses.
const (
	exitOK     = 0
	exitServer = 1 // the request failed at the server or on the way to it
	exitUsage  = 2 // bad flags or arguments, found before any call
)

// exitError carries an exit status. Errors without one are cobra's own
// (unknown command, bad flag, wrong argument count): usage errors.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usagef reports a usage error (exit 2).
func usagef(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// failed reports a request that failed (exit 1).
func failed(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: exitServer, err: err}
}

// app is the state shared by the commands of one invocation.
type app struct {
	endpoints   string
	timeout     time.Duration
	output      string
	consistency string
	tlsFiles    certs.Files // --cert, --key, --cacert

	tls         *tls.Config // built from tlsFiles before any command runs; nil: plaintext
	token       string
	tokenFile   string
	contextName string            // --context
	source      map[string]string // where a setting came from, when not its flag (settle)

	stdin          io.Reader
	stdout, stderr io.Writer
	isTTY          func() bool // whether stderr is a terminal (progress bars)

	cl *client.Client
}

// run executes the CLI with args and returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, isTTY: func() bool { return isTerminal(stderr) }}
	root := a.rootCmd(getenv)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if a.cl != nil {
		a.cl.Close()
	}
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "Error: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", root.Name())
	return exitUsage
}

func (a *app) rootCmd(getenv func(string) string) *cobra.Command {
	root := &cobra.Command{
		Use:   "flowmesh",
		Short: "FlowMesh command-line client",
		Long: `flowmesh talks to FlowMesh nodes over gRPC: streams, queues and KV stores
named by their path tenant/namespace/name, cluster status, and a load generator.

Every global flag has an environment variable (FLOWMESH_ and the flag's name:
FLOWMESH_TIMEOUT, FLOWMESH_TOKEN_FILE, ...). A setting comes from the flag, else
the variable, else the context (--context, FLOWMESH_CONTEXT or the one chosen
with "flowmesh context select"), else the default.

-o json: snake_case fields, payloads and values in base64, durations as
"1.5s", timestamps RFC 3339 (see the README).

Exit status: 0 success, 1 the request failed (server or connection), 2 usage.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setup(cmd, getenv)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.endpoints, "endpoints", "127.0.0.1:7400", "comma-separated gRPC addresses of nodes (env FLOWMESH_ENDPOINTS)")
	pf.DurationVar(&a.timeout, "timeout", 10*time.Second, "deadline of each request, not of tail, watch or bench (env FLOWMESH_TIMEOUT)")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json (env FLOWMESH_OUTPUT)")
	pf.StringVar(&a.consistency, "consistency", "linearizable", "read consistency: linearizable, leader or stale (env FLOWMESH_CONSISTENCY)")
	pf.StringVar(&a.tlsFiles.CA, "cacert", "", "PEM CA that verifies the nodes; TLS on when set (env FLOWMESH_CACERT)")
	pf.StringVar(&a.tlsFiles.Cert, "cert", "", "PEM client certificate presented to the nodes (env FLOWMESH_CERT)")
	pf.StringVar(&a.tlsFiles.Key, "key", "", "PEM key of --cert (env FLOWMESH_KEY)")
	pf.StringVar(&a.contextName, "context", "", "saved connection context to use (env FLOWMESH_CONTEXT; default: the selected one)")
	a.tokenFlags(root)
	root.AddCommand(a.streamCmd(), a.queueCmd(), a.kvCmd(), a.txnCmd(), a.clusterCmd(), a.resourcesCmd(), a.benchCmd(), a.quotaCmd(),
		a.versionCmd(), a.contextCmd(getenv))
	requireSubcommands(root)
	a.completions(root, getenv)
	return root
}

// setup settles the global settings (flag, environment, context, default)
// and checks them, before any command runs.
func (a *app) setup(cmd *cobra.Command, getenv func(string) string) error {
	if err := a.settle(cmd, getenv); err != nil {
		return err
	}
	if err := a.checkOutput(); err != nil {
		return err
	}
	if a.timeout <= 0 {
		return usagef("%s %v must be positive", a.from("timeout"), a.timeout)
	}
	if _, err := a.consistencyLevel(); err != nil {
		return err
	}
	return a.loadTLS()
}

func (a *app) checkOutput() error {
	if a.output != "table" && a.output != "json" {
		return usagef("%s %q: want table or json", a.from("output"), a.output)
	}
	return nil
}

// requireSubcommands makes every command that only groups others (queue,
// cluster snapshot, ...) a usage error when called without one of them or
// with an unknown one: cobra would print the help and exit 0, so a script
// calling a command that does not exist would not notice.
func requireSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		requireSubcommands(c)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() {
		return
	}
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef("unknown command %q for %q; see '%s --help'", args[0], c.CommandPath(), c.CommandPath())
		}
		return nil
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		var names []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		return usagef("%s needs a command: %s", c.CommandPath(), strings.Join(names, ", "))
	}
}

// client returns the shared client, made on first use.
func (a *app) client() (*client.Client, error) {
	if a.cl != nil {
		return a.cl, nil
	}
	eps := a.endpointList()
	if len(eps) == 0 {
		return nil, usagef("%s: no endpoint given", a.from("endpoints"))
	}
	cl, err := client.New(a.clientConfig())
	if err != nil {
		return nil, usagef("%s: %v", a.from("endpoints"), err)
	}
	a.cl = cl
	return cl, nil
}

// clientConfig is the client configuration the flags ask for.
func (a *app) clientConfig() client.Config {
	return client.Config{Endpoints: a.endpointList(), DialTimeout: a.timeout, TLS: a.tls, Token: a.token}
}

// loadTLS reads --cacert, --cert and --key, if any (a usage error names a
// file that cannot be used). With a certificate but no --cacert the nodes
// are verified against the system roots.
func (a *app) loadTLS() error {
	if a.tlsFiles == (certs.Files{}) {
		return nil
	}
	if (a.tlsFiles.Cert == "") != (a.tlsFiles.Key == "") {
		return usagef("%s and %s go together", a.from("cert"), a.from("key"))
	}
	src, err := certs.Load(a.tlsFiles)
	if err != nil {
		return usagef("%v", err)
	}
	a.tls = certs.ClientConfig(src, src, true)
	return nil
}

// endpointList splits --endpoints.
func (a *app) endpointList() []string {
	var eps []string
	for _, e := range strings.Split(a.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	return eps
}

// call runs fn with the client and a ctx bounded by --timeout; fn's error is
// a request failure.
func (a *app) call(cmd *cobra.Command, fn func(ctx context.Context, c *client.Client) error) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), a.timeout)
	defer cancel()
	return failed(fn(ctx, c))
}

func (a *app) consistencyLevel() (flowmesh.Consistency, error) {
	switch a.consistency {
	case "linearizable", "":
		return flowmesh.Linearizable, nil
	case "leader":
		return flowmesh.Leader, nil
	case "stale":
		return flowmesh.Stale, nil
	}
	return 0, usagef("%s %q: want linearizable, leader or stale", a.from("consistency"), a.consistency)
}

// readOpts are the call options of a read.
func (a *app) readOpts() []flowmesh.CallOption {
	c, _ := a.consistencyLevel()
	return []flowmesh.CallOption{flowmesh.WithConsistency(c)}
}

// emit writes v as JSON with -o json, or calls table with a tabwriter.
func (a *app) emit(v any, table func(w io.Writer)) error {
	if a.output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// emitLine writes one item of a stream (tail, watch): a JSON line with
// -o json, else the text line.
func (a *app) emitLine(v any, line string) error {
	if a.output == "json" {
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	_, err := fmt.Fprintln(a.stdout, line)
	return err
}

// path checks a resource path argument.
func path(arg string) (string, error) {
	if _, _, _, err := flowmesh.ParsePath(arg); err != nil {
		return "", &exitError{code: exitUsage, err: err}
	}
	return arg, nil
}

// payload reads a payload: --file (a path, "-" for stdin), else the
// argument ("-" for stdin).
func (a *app) payload(arg string, haveArg bool, file string) ([]byte, error) {
	switch {
	case file != "" && haveArg:
		return nil, usagef("give the payload as an argument or with --file, not both")
	case file == "-" || (haveArg && arg == "-"):
		b, err := io.ReadAll(a.stdin)
		if err != nil {
			return nil, usagef("reading stdin: %v", err)
		}
		return b, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, usagef("--file: %v", err)
		}
		return b, nil
	case haveArg:
		return []byte(arg), nil
	}
	return nil, usagef("no payload: give it as an argument, with --file, or \"-\" for stdin")
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
