package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
)

// succeeded records every command path the tests ran with exit 0 (cli).
var succeeded = struct {
	sync.Mutex
	paths map[string]bool
}{paths: map[string]bool{}}

// recordRun notes the command args name when it exited 0.
func recordRun(args []string, code int) {
	if code != exitOK {
		return
	}
	root := (&app{}).rootCmd(func(string) string { return "" })
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		return
	}
	succeeded.Lock()
	succeeded.paths[cmd.CommandPath()] = true
	succeeded.Unlock()
}

// leafCommands lists every runnable command but cobra's own (help,
// completion), which TestHelpAndCompletion covers.
func leafCommands() []string {
	var out []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Name() == "help" || sub.Name() == "completion" || sub.Name() == cobra.ShellCompRequestCmd || sub.Name() == cobra.ShellCompNoDescRequestCmd {
				continue
			}
			if sub.HasSubCommands() {
				walk(sub)
			} else if sub.Runnable() {
				out = append(out, sub.CommandPath())
			}
		}
	}
	walk((&app{}).rootCmd(func(string) string { return "" }))
	slices.Sort(out)
	return out
}

// TestMain checks, after a full run of the package's tests (no -run, not
// -short), that every command ran successfully at least once: the CLI
// test table's "every command's happy path", kept true as commands are
// added.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && !testing.Short() {
		var missing []string
		for _, p := range leafCommands() {
			if !succeeded.paths[p] {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: no test ran these commands with exit 0:\n  %s\n", strings.Join(missing, "\n  "))
			code = 1
		}
	}
	os.Exit(code)
}
