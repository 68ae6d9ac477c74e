package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// BenchmarkLogStoreStoreLogs is one StoreLogs of 1 or 64 entries of 256
// bytes, fsync included, into each log store, on the disk under
// b.TempDir() (TMPDIR; it must not be a tmpfs for the figures to mean
// anything). ns/op is per StoreLogs call. wal-nosum is raft-wal without
// walStore's entry checksums, to price them.
func BenchmarkLogStoreStoreLogs(b *testing.B) {
	for _, kind := range []string{LogStoreBolt, LogStoreWAL, "wal-nosum"} {
		for _, n := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/entries=%d", kind, n), func(b *testing.B) {
				open := kind
				if kind == "wal-nosum" {
					open = LogStoreWAL
				}
				st, err := openLogStore(b.TempDir(), open)
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				var s raft.LogStore = st
				if kind == "wal-nosum" {
					s = st.(*walStore).WAL
				}
				data := make([]byte, 256)
				logs := make([]*raft.Log, n)
				next := uint64(1)
				b.SetBytes(int64(n * len(data)))
				b.ResetTimer()
				for range b.N {
					for i := range logs {
						logs[i] = &raft.Log{Index: next, Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}
						next++
					}
					if err := s.StoreLogs(logs); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
