package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// confirm lets a destructive command go ahead: with --yes, or when the
// person at a terminal types "yes". Without a terminal to ask on and
// without --yes it is a usage error, so a script that forgot --yes stops
// before it destroys anything.
func (a *app) confirm(yes bool, what string) error {
	if yes {
		return nil
	}
	f, ok := a.stdin.(*os.File)
	if !ok || !isTerminal(f) {
		return usagef("%s: refusing without --yes (no terminal to ask on)", what)
	}
	fmt.Fprintf(a.stderr, "%s. Type yes to go on: ", what)
	line, _ := bufio.NewReader(f).ReadString('\n')
	if strings.TrimSpace(line) != "yes" {
		return usagef("%s: not confirmed", what)
	}
	return nil
}
