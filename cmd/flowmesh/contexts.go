package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flowmesh/flowmesh/client"
)

// A context is a saved set of connection settings, like a nats context:
// one JSON file per context, mode 0600, in DIR/contexts/NAME.json, and the
// selected context's name in DIR/context, where DIR is
// $XDG_CONFIG_HOME/flowmesh, else $HOME/.config/flowmesh. A context holds
// a token only when it was saved with --token; --token-file saves the
// file's path.

// savedContext is the file format of a context (append fields, never
// rename them).
type savedContext struct {
	Endpoints   string `json:"endpoints,omitempty"`
	Timeout     string `json:"timeout,omitempty"`
	Output      string `json:"output,omitempty"`
	Consistency string `json:"consistency,omitempty"`
	CACert      string `json:"cacert,omitempty"`
	Cert        string `json:"cert,omitempty"`
	Key         string `json:"key,omitempty"`
	TokenFile   string `json:"token_file,omitempty"`
	Token       string `json:"token,omitempty"` // only when saved with --token

	Name string `json:"-"`
	file string
}

// get is the context's value of a global flag.
func (c *savedContext) get(flag string) string {
	switch flag {
	case "endpoints":
		return c.Endpoints
	case "timeout":
		return c.Timeout
	case "output":
		return c.Output
	case "consistency":
		return c.Consistency
	case "cacert":
		return c.CACert
	case "cert":
		return c.Cert
	case "key":
		return c.Key
	}
	return ""
}

func (c *savedContext) set(flag, v string) {
	switch flag {
	case "endpoints":
		c.Endpoints = v
	case "timeout":
		c.Timeout = v
	case "output":
		c.Output = v
	case "consistency":
		c.Consistency = v
	case "cacert":
		c.CACert = v
	case "cert":
		c.Cert = v
	case "key":
		c.Key = v
	}
}

// contextNameRE: a context name is a file name, so no separators, and not hidden.
var contextNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)

// contextStore is the directory of saved contexts.
type contextStore struct {
	getenv func(string) string
}

func (s contextStore) dir() (string, error) {
	if d := s.getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "flowmesh"), nil
	}
	if h := s.getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "flowmesh"), nil
	}
	return "", errors.New("contexts: neither XDG_CONFIG_HOME nor HOME is set")
}

func (s contextStore) file(name string) (string, error) {
	if !contextNameRE.MatchString(name) {
		return "", fmt.Errorf("context name %q: want letters, digits, '_', '.' or '-' (at most 64, not starting with '.' or '-')", name)
	}
	d, err := s.dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "contexts", name+".json"), nil
}

func (s contextStore) load(name string) (*savedContext, error) {
	f, err := s.file(name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(f)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no context %q (flowmesh context list)", name)
	}
	if err != nil {
		return nil, err
	}
	c := &savedContext{Name: name, file: f}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("context %q: %s: %v", name, f, err)
	}
	return c, nil
}

func (s contextStore) save(name string, c *savedContext) (string, error) {
	f, err := s.file(name)
	if err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	return f, writeFile0600(f, append(b, '\n'))
}

// writeFile0600 replaces f (mode 0600, its directories 0700) atomically.
func writeFile0600(f string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), f)
}

func (s contextStore) names() ([]string, error) {
	d, err := s.dir()
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(filepath.Join(d, "contexts"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && !e.IsDir() && contextNameRE.MatchString(n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// selected is the selected context's name, "" when none is.
func (s contextStore) selected() (string, error) {
	d, err := s.dir()
	if err != nil {
		return "", nil // no config directory: nothing can be selected
	}
	b, err := os.ReadFile(filepath.Join(d, "context"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func (s contextStore) selectName(name string) error {
	d, err := s.dir()
	if err != nil {
		return err
	}
	f := filepath.Join(d, "context")
	if name == "" {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return writeFile0600(f, []byte(name+"\n"))
}

// contextCmd: save, list, show, select, unselect, rm. Its commands do not
// settle the global settings from a context (a broken selected context
// must not stop "context rm"), only check --output.
func (a *app) contextCmd(getenv func(string) string) *cobra.Command {
	st := contextStore{getenv: getenv}
	cmd := &cobra.Command{
		Use:   "context",
		Short: "Saved connection settings: save, list, show, select, unselect, rm",
		Long: `A context saves connection settings (--endpoints, --cacert, --cert, --key,
--token-file, --timeout, --consistency, --output) under a name. --context NAME,
FLOWMESH_CONTEXT or "flowmesh context select NAME" picks one; a flag or
variable still overrides each of its settings.

Contexts are files of mode 0600 in $XDG_CONFIG_HOME/flowmesh/contexts (else
~/.config/flowmesh/contexts). A token is stored in one only when given with
--token; prefer --token-file, which saves the file's path.`,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("output") {
				if v := getenv("FLOWMESH_OUTPUT"); v != "" {
					a.output, a.source = v, map[string]string{"output": "FLOWMESH_OUTPUT"}
				}
			}
			return a.checkOutput()
		},
	}
	completeNames := func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names, _ := st.names()
		return names, cobra.ShellCompDirectiveNoFileComp
	}

	var selectIt bool
	save := &cobra.Command{
		Use:   "save NAME",
		Short: "Save the connection flags given with it as context NAME (replacing one of that name)",
		Example: `  flowmesh context save prod --endpoints 10.0.0.1:7400,10.0.0.2:7400 \
      --cacert ca.pem --cert client.pem --key client-key.pem --token-file ~/.flowmesh-token --select`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.contextFromFlags(cmd)
			if err != nil {
				return err
			}
			f, err := st.save(args[0], c)
			if err != nil {
				return usagef("%v", err)
			}
			if selectIt {
				if err := st.selectName(args[0]); err != nil {
					return failed(err)
				}
			}
			if c.Token != "" {
				fmt.Fprintf(a.stderr, "note: the token is stored in plain text in %s (mode 0600); --token-file saves only a path\n", f)
			}
			return a.emit(map[string]any{"saved": args[0], "file": f, "selected": selectIt}, func(w io.Writer) {
				fmt.Fprintf(w, "saved context %s in %s\n", args[0], f)
			})
		},
	}
	save.Flags().BoolVar(&selectIt, "select", false, "also select it")

	list := &cobra.Command{
		Use:   "list",
		Short: "List saved contexts (* marks the selected one)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			names, err := st.names()
			if err != nil {
				return failed(err)
			}
			sel, _ := st.selected()
			type row struct {
				Name      string `json:"name"`
				Selected  bool   `json:"selected"`
				Endpoints string `json:"endpoints,omitempty"`
				Error     string `json:"error,omitempty"`
			}
			out := make([]row, 0, len(names))
			for _, n := range names {
				r := row{Name: n, Selected: n == sel}
				if c, err := st.load(n); err != nil {
					r.Error = err.Error()
				} else {
					r.Endpoints = c.Endpoints
				}
				out = append(out, r)
			}
			return a.emit(out, func(w io.Writer) {
				fmt.Fprintln(w, "NAME\tENDPOINTS")
				for _, r := range out {
					mark := ""
					if r.Selected {
						mark = "*"
					}
					fmt.Fprintf(w, "%s%s\t%s%s\n", r.Name, mark, dash(r.Endpoints), r.Error)
				}
			})
		},
	}

	show := &cobra.Command{
		Use:               "show [NAME]",
		Short:             "Show a context's settings (default: the selected one); a stored token is not shown",
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: completeNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			name := argAt(args, 0)
			if name == "" {
				sel, err := st.selected()
				if err != nil {
					return failed(err)
				}
				if sel == "" {
					return usagef("no context is selected: give a NAME")
				}
				name = sel
			}
			c, err := st.load(name)
			if err != nil {
				return usagef("%v", err)
			}
			sel, _ := st.selected()
			out := struct {
				Name     string `json:"name"`
				File     string `json:"file"`
				Selected bool   `json:"selected"`
				*savedContext
				Token       string `json:"token,omitempty"` // hides the context's
				TokenStored bool   `json:"token_stored"`
			}{Name: name, File: c.file, Selected: name == sel, savedContext: c, TokenStored: c.Token != ""}
			return a.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "context\t%s\n", name)
				fmt.Fprintf(w, "file\t%s\n", c.file)
				fmt.Fprintf(w, "selected\t%v\n", out.Selected)
				for _, f := range settingFlags {
					fmt.Fprintf(w, "%s\t%s\n", f, dash(c.get(f)))
				}
				fmt.Fprintf(w, "token-file\t%s\n", dash(c.TokenFile))
				if c.Token != "" {
					fmt.Fprintln(w, "token\t(stored)")
				}
			})
		},
	}

	sel := &cobra.Command{
		Use:               "select NAME",
		Short:             "Use context NAME when neither --context nor FLOWMESH_CONTEXT names one",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := st.load(args[0]); err != nil {
				return usagef("%v", err)
			}
			if err := st.selectName(args[0]); err != nil {
				return failed(err)
			}
			return a.emit(map[string]any{"selected": args[0]}, func(w io.Writer) { fmt.Fprintf(w, "selected context %s\n", args[0]) })
		},
	}
	unselect := &cobra.Command{
		Use:   "unselect",
		Short: "Select no context",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := st.selectName(""); err != nil {
				return failed(err)
			}
			return a.emit(map[string]any{"selected": nil}, func(w io.Writer) { fmt.Fprintln(w, "no context selected") })
		},
	}
	rm := &cobra.Command{
		Use:               "rm NAME",
		Aliases:           []string{"delete"},
		Short:             "Remove context NAME (and unselect it if selected)",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := st.file(args[0])
			if err != nil {
				return usagef("%v", err)
			}
			if err := os.Remove(f); errors.Is(err, fs.ErrNotExist) {
				return usagef("no context %q (flowmesh context list)", args[0])
			} else if err != nil {
				return failed(err)
			}
			if s, _ := st.selected(); s == args[0] {
				if err := st.selectName(""); err != nil {
					return failed(err)
				}
			}
			return a.emit(map[string]any{"removed": args[0]}, func(w io.Writer) { fmt.Fprintf(w, "removed context %s\n", args[0]) })
		},
	}
	cmd.AddCommand(save, list, show, sel, unselect, rm)
	return cmd
}

// contextFromFlags builds a context from the global flags given on the
// command line (not from the environment), checked as a command would
// check them; file paths are made absolute.
func (a *app) contextFromFlags(cmd *cobra.Command) (*savedContext, error) {
	flags := cmd.Flags()
	c := &savedContext{}
	given := false
	for _, name := range settingFlags {
		if f := flags.Lookup(name); f != nil && f.Changed {
			c.set(name, f.Value.String())
			given = true
		}
	}
	if flags.Changed("token") && flags.Changed("token-file") {
		return nil, usagef("--token and --token-file: give one")
	}
	if flags.Changed("token") {
		c.Token, given = a.token, true
	}
	if flags.Changed("token-file") {
		c.TokenFile, given = a.tokenFile, true
	}
	if !given {
		return nil, usagef("nothing to save: give --endpoints, --cacert, --cert, --key, --token-file, --timeout, --consistency or --output")
	}
	for _, p := range []*string{&c.CACert, &c.Cert, &c.Key, &c.TokenFile} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, usagef("%s: %v", *p, err)
		}
		*p = abs
	}
	// Check the values as a command using the context would.
	probe := &app{endpoints: a.endpoints, timeout: a.timeout, output: a.output, consistency: a.consistency, source: map[string]string{}}
	probe.tlsFiles.CA, probe.tlsFiles.Cert, probe.tlsFiles.Key = c.CACert, c.Cert, c.Key
	if probe.timeout <= 0 {
		return nil, usagef("--timeout %v must be positive", probe.timeout)
	}
	if _, err := probe.consistencyLevel(); err != nil {
		return nil, err
	}
	if c.Output != "" && c.Output != "table" && c.Output != "json" {
		return nil, usagef("--output %q: want table or json", c.Output)
	}
	if err := probe.loadTLS(); err != nil {
		return nil, err
	}
	if c.Endpoints != "" {
		if err := (client.Config{Endpoints: probe.endpointList()}).Validate(); err != nil {
			return nil, usagef("--endpoints: %v", err)
		}
	}
	if c.TokenFile != "" {
		if _, err := os.Stat(c.TokenFile); err != nil {
			return nil, usagef("--token-file: %v", err)
		}
	}
	return c, nil
}
