package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/flowmesh/flowmesh/cluster"
	"github.com/flowmesh/flowmesh/storage"
)

const convertUsage = "usage: flowmesh-node convert-log-store --data-dir DIR --to wal|boltdb"

// runConvertLogStore is `flowmesh-node convert-log-store`: it converts a
// stopped node's raft log store (cluster.ConvertLogStore) under the data
// dir's lock. Usage errors exit 2, a failed conversion 1.
func runConvertLogStore(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("flowmesh-node convert-log-store", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "the stopped node's data directory (its --data-dir)")
	to := fs.String("to", "", "the log store to convert to: wal or boltdb")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: flowmesh-node convert-log-store --data-dir DIR --to wal|boltdb\n\n"+
			"Converts a stopped node's raft log store: copies every entry, the term and\n"+
			"the vote into a new store, reads them all back, swaps it in, and keeps the\n"+
			"old store as DIR/raft/raft.db.bak-TIME or DIR/raft/wal.bak-TIME (delete it\n"+
			"once the node runs well). Refuses while a node holds the data dir.\n\nFlags:")
		printFlags(stderr, fs)
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "flowmesh-node convert-log-store: unexpected arguments %q\n%s\n", fs.Args(), convertUsage)
		return 2
	case *dataDir == "":
		fmt.Fprintf(stderr, "flowmesh-node convert-log-store: --data-dir is required\n%s\n", convertUsage)
		return 2
	case *to != cluster.LogStoreWAL && *to != cluster.LogStoreBolt:
		fmt.Fprintf(stderr, "flowmesh-node convert-log-store: --to %q must be wal or boltdb\n%s\n", *to, convertUsage)
		return 2
	}
	raftDir := filepath.Join(*dataDir, "raft")
	if fi, err := os.Stat(raftDir); err != nil || !fi.IsDir() {
		fmt.Fprintf(stderr, "flowmesh-node convert-log-store: %s is not a node's data dir (no raft/ in it)\n", *dataDir)
		return 2
	}
	release, err := storage.LockDataDir(*dataDir)
	if err != nil {
		fmt.Fprintf(stderr, "flowmesh-node convert-log-store: %v\n", err)
		return 1
	}
	defer release()
	res, err := cluster.ConvertLogStore(raftDir, *to)
	if err != nil {
		fmt.Fprintf(stderr, "flowmesh-node convert-log-store: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "converted %s from %s to %s: entries %d-%d, term and vote copied and verified; the old store is %s\n",
		raftDir, res.From, res.To, res.First, res.Last, res.Backup)
	return 0
}
