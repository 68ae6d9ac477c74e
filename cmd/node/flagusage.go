package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// printFlags lists fs's flags the way the CLI (cobra) does: "--name value"
// with its usage and default, one flag a line, so the node's help reads
// like the CLI's. Go's flag package accepts -name and --name alike.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		head := "  --" + f.Name
		if typ != "" {
			head += " " + typ
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
			if typ == "string" {
				def = fmt.Sprintf(" (default %q)", f.DefValue)
			} else {
				def = " (default " + f.DefValue + ")"
			}
		}
		fmt.Fprintf(w, "%s\n      %s%s\n", head, strings.ReplaceAll(usage, "\n", "\n      "), def)
	})
}
