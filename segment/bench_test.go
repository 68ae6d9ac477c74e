package segment

import "testing"

func benchRecord(i int) Record {
	return Record{Index: uint64(i), Timestamp: int64(i), Payload: make([]byte, 256)}
}

func reportRecords(b *testing.B, n int) {
	b.Helper()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkAppendSingle(b *testing.B) {
	l := openLogB(b)
	r := benchRecord(0)
	b.SetBytes(int64(frameSize(&r)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(r); err != nil {
			b.Fatal(err)
		}
	}
	reportRecords(b, b.N)
}

func benchBatch(b *testing.B, sync bool) {
	l := openLogB(b)
	rs := make([]Record, 100)
	for i := range rs {
		rs[i] = benchRecord(i)
	}
	b.SetBytes(int64(100 * frameSize(&rs[0])))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.AppendBatch(rs); err != nil {
			b.Fatal(err)
		}
		if sync {
			if err := l.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportRecords(b, 100*b.N)
}

func BenchmarkAppendBatch100(b *testing.B)     { benchBatch(b, false) }
func BenchmarkAppendBatch100Sync(b *testing.B) { benchBatch(b, true) }

func BenchmarkReadSequential(b *testing.B) {
	l := openLogB(b)
	rs := make([]Record, 1000)
	for i := range rs {
		rs[i] = benchRecord(i)
	}
	const total = 200_000 // ~56 MB, in the page cache after writing
	for n := 0; n < total; n += len(rs) {
		if _, err := l.AppendBatch(rs); err != nil {
			b.Fatal(err)
		}
	}
	frame := frameSize(&rs[0])
	b.SetBytes(int64(frame))
	b.ResetTimer()
	off := uint64(0)
	for i := 0; i < b.N; {
		got, err := l.Read(off, 0, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		i += len(got)
		off += uint64(len(got))
		if off == total {
			off = 0
		}
	}
	reportRecords(b, b.N)
}

func openLogB(b *testing.B) *Log {
	b.Helper()
	l, err := Open(b.TempDir(), DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}
