package segment

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAppendRead(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	appendN(t, l, 0, 200)
	checkRange(t, l, 0, 200)
	if got := l.LastIndex(); got != rec(199).Index {
		t.Errorf("LastIndex = %d, want %d", got, rec(199).Index)
	}
	rs, err := l.Read(200, 10, 0)
	if err != nil || len(rs) != 0 {
		t.Errorf("Read(Next) = %d records, %v; want 0, nil", len(rs), err)
	}
	_, err = l.Read(201, 10, 0)
	wantOutOfRange(t, err)
}

func TestReadBudgets(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	appendN(t, l, 0, 50)
	frame := len(EncodeRecord(nil, &Record{Payload: rec(10).Payload}))
	tests := []struct {
		name                 string
		from                 uint64
		maxRecords, maxBytes int
		want                 int
	}{
		{"count", 10, 5, 0, 5},
		{"count past end", 45, 10, 0, 5},
		{"unlimited", 0, 0, 0, 50},
		{"one byte gives one record", 10, 0, 1, 1},
		{"byte budget", 0, 0, 100000, 50},
		{"tight bytes", 10, 0, frame * 3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := l.Read(tt.from, tt.maxRecords, tt.maxBytes)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if len(rs) != tt.want {
				t.Fatalf("Read(%d, %d, %d) got %d records, want %d", tt.from, tt.maxRecords, tt.maxBytes, len(rs), tt.want)
			}
			for i, r := range rs {
				if r.Offset != tt.from+uint64(i) {
					t.Fatalf("record %d has offset %d, want %d", i, r.Offset, tt.from+uint64(i))
				}
			}
		})
	}
}

func TestAppendBatch(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	appendN(t, l, 0, 3)
	var batch []Record
	for i := uint64(3); i < 103; i++ {
		batch = append(batch, rec(i))
	}
	first, err := l.AppendBatch(batch)
	if err != nil || first != 3 {
		t.Fatalf("AppendBatch = %d, %v; want 3, nil", first, err)
	}
	checkRange(t, l, 0, 103)
}

func TestRecordTooLarge(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRecordSize = 100
	l := openLog(t, t.TempDir(), cfg)
	_, err := l.Append(Record{Payload: make([]byte, 101)})
	if !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("Append err = %v, want ErrRecordTooLarge", err)
	}
	if _, err := l.Append(Record{Payload: make([]byte, 100)}); err != nil {
		t.Fatalf("Append at the limit: %v", err)
	}
}

func TestRollBySize(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentMaxSize = 1000
	dir := t.TempDir()
	l := openLog(t, dir, cfg)
	appendN(t, l, 0, 100)
	segs := l.Segments()
	if len(segs) < 3 {
		t.Fatalf("got %d segments, want several", len(segs))
	}
	var next uint64
	for i, s := range segs {
		if s.BaseOffset != next {
			t.Errorf("segment %d base = %d, want %d", i, s.BaseOffset, next)
		}
		if s.Size > cfg.SegmentMaxSize {
			t.Errorf("segment %d size = %d, want <= %d", i, s.Size, cfg.SegmentMaxSize)
		}
		if s.Sealed != (i < len(segs)-1) {
			t.Errorf("segment %d sealed = %v", i, s.Sealed)
		}
		next = s.NextOffset
	}
	checkRange(t, l, 0, 100)
	// Reads that start at every segment boundary (index lookups included).
	for _, s := range segs {
		for _, off := range []uint64{s.BaseOffset, s.NextOffset - 1} {
			rs, err := l.Read(off, 1, 0)
			if err != nil || len(rs) != 1 || rs[0].Offset != off {
				t.Fatalf("Read(%d) = %v, %v", off, rs, err)
			}
		}
	}
	l.Close()
	l2 := openLog(t, dir, cfg)
	checkRange(t, l2, 0, 100)
	if got, want := len(l2.Segments()), len(segs); got != want {
		t.Errorf("after reopen %d segments, want %d", got, want)
	}
}

func TestRollByAge(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentMaxAge = time.Microsecond // rec(i) timestamps step by 1µs
	l := openLog(t, t.TempDir(), cfg)
	appendN(t, l, 0, 10)
	segs := l.Segments()
	if len(segs) != 10 {
		t.Fatalf("got %d segments, want 10", len(segs))
	}
	for i, s := range segs {
		if s.FirstTimestamp != int64(i)*1000 || s.LastTimestamp != int64(i)*1000 {
			t.Errorf("segment %d timestamps = %d..%d", i, s.FirstTimestamp, s.LastTimestamp)
		}
	}
	cfg.SegmentMaxAge = 3 * time.Microsecond
	l2 := openLog(t, t.TempDir(), cfg)
	appendN(t, l2, 0, 10)
	if got := len(l2.Segments()); got != 4 {
		t.Errorf("got %d segments, want 4", got)
	}
}

func TestRollAndDeleteBefore(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	for i := uint64(0); i < 5; i++ {
		appendN(t, l, i*10, 10)
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
	}
	appendN(t, l, 50, 5)
	tests := []struct {
		before      uint64
		wantDeleted int
		wantEarly   uint64
	}{
		{0, 0, 0},
		{9, 0, 0},
		{10, 1, 10},
		{35, 2, 30},
		{1000, 2, 50}, // never the active segment
	}
	for _, tt := range tests {
		n, err := l.DeleteBefore(tt.before)
		if err != nil || n != tt.wantDeleted {
			t.Fatalf("DeleteBefore(%d) = %d, %v; want %d", tt.before, n, err, tt.wantDeleted)
		}
		if got := l.EarliestOffset(); got != tt.wantEarly {
			t.Fatalf("after DeleteBefore(%d) EarliestOffset = %d, want %d", tt.before, got, tt.wantEarly)
		}
	}
	_, err := l.Read(49, 1, 0)
	wantOutOfRange(t, err)
	rs, err := l.Read(50, 0, 0)
	if err != nil || len(rs) != 5 {
		t.Fatalf("Read(50) = %d, %v", len(rs), err)
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(0)+logSuffix)); !os.IsNotExist(err) {
		t.Errorf("deleted segment file still exists: %v", err)
	}
	l.Close()
	l2 := openLog(t, dir, testConfig())
	if l2.EarliestOffset() != 50 || l2.NextOffset() != 55 {
		t.Errorf("after reopen [%d, %d), want [50, 55)", l2.EarliestOffset(), l2.NextOffset())
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name string
		to   uint64
	}{
		{"nothing", 60},
		{"inside active", 55},
		{"active base", 50},
		{"inside sealed", 23},
		{"sealed base", 20},
		{"all", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, testConfig())
			for i := uint64(0); i < 5; i++ {
				appendN(t, l, i*10, 10)
				if err := l.Roll(); err != nil {
					t.Fatal(err)
				}
			}
			appendN(t, l, 50, 10)
			if err := l.Truncate(tt.to); err != nil {
				t.Fatalf("Truncate(%d): %v", tt.to, err)
			}
			checkRange(t, l, 0, tt.to)
			wantIndex := uint64(0)
			if tt.to > 0 {
				wantIndex = rec(tt.to - 1).Index
			}
			if got := l.LastIndex(); got != wantIndex {
				t.Errorf("LastIndex = %d, want %d", got, wantIndex)
			}
			appendN(t, l, tt.to, 7)
			checkRange(t, l, 0, tt.to+7)
			l.Close()
			l2 := openLog(t, dir, testConfig())
			checkRange(t, l2, 0, tt.to+7)
			if got := l2.LastIndex(); got != rec(tt.to+6).Index {
				t.Errorf("LastIndex after reopen = %d, want %d", got, rec(tt.to+6).Index)
			}
		})
	}
	l := openLog(t, t.TempDir(), testConfig())
	appendN(t, l, 0, 3)
	wantOutOfRange(t, l.Truncate(4))
}

func TestTruncateAfterIndex(t *testing.T) {
	// rec(i).Index = i/3+1: offsets 0-2 have index 1, 3-5 index 2, ...
	tests := []struct {
		index    uint64
		wantNext uint64
	}{
		{100, 30},
		{10, 30},
		{9, 27},
		{4, 12},
		{1, 3},
		{0, 0},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		cfg := testConfig()
		cfg.SegmentMaxSize = 300
		l := openLog(t, dir, cfg)
		appendN(t, l, 0, 30)
		if err := l.TruncateAfterIndex(tt.index); err != nil {
			t.Fatalf("TruncateAfterIndex(%d): %v", tt.index, err)
		}
		if got := l.NextOffset(); got != tt.wantNext {
			t.Errorf("TruncateAfterIndex(%d): NextOffset = %d, want %d", tt.index, got, tt.wantNext)
		}
		checkRange(t, l, 0, tt.wantNext)
		if got, want := l.LastIndex(), min(tt.index, 10); got != want {
			t.Errorf("TruncateAfterIndex(%d): LastIndex = %d, want %d", tt.index, got, want)
		}
	}
}

func TestFindOffsetByTime(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentMaxSize = 300
	l := openLog(t, t.TempDir(), cfg)
	appendN(t, l, 0, 30) // timestamps 0, 1000, ...
	tests := []struct {
		ts   int64
		want uint64
	}{
		{-5, 0}, {0, 0}, {1, 1}, {1000, 1}, {14500, 15}, {29000, 29}, {29001, 30},
	}
	for _, tt := range tests {
		got, err := l.FindOffsetByTime(tt.ts)
		if err != nil || got != tt.want {
			t.Errorf("FindOffsetByTime(%d) = %d, %v; want %d", tt.ts, got, err, tt.want)
		}
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentMaxSize = 2000
	l := openLog(t, dir, cfg)
	appendN(t, l, 0, 150)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	wantSegs := l.Segments()
	l.Close()
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.Append(rec(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	if _, err := l.Read(0, 1, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v, want ErrClosed", err)
	}
	for _, removeIdx := range []bool{false, true} {
		if removeIdx {
			for _, s := range wantSegs {
				os.Remove(filepath.Join(dir, segmentName(s.BaseOffset)+idxSuffix))
			}
		}
		l2 := openLog(t, dir, cfg)
		checkRange(t, l2, 0, 150)
		if got, want := l2.LastIndex(), rec(149).Index; got != want {
			t.Errorf("LastIndex = %d, want %d", got, want)
		}
		got := l2.Segments()
		if len(got) != len(wantSegs) {
			t.Fatalf("got %d segments, want %d", len(got), len(wantSegs))
		}
		for i := range got {
			if got[i] != wantSegs[i] {
				t.Errorf("segment %d = %+v, want %+v", i, got[i], wantSegs[i])
			}
		}
		appendN(t, l2, 150, 1)
		l2.Truncate(150)
		l2.Close()
	}
}

func TestCheckpoint(t *testing.T) {
	dir, cp := t.TempDir(), filepath.Join(t.TempDir(), "cp")
	cfg := testConfig()
	cfg.SegmentMaxSize = 2000
	l := openLog(t, dir, cfg)
	appendN(t, l, 0, 100)
	if err := l.Checkpoint(cp); err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	// Changes to the source after the checkpoint must not show in the copy.
	appendN(t, l, 100, 20)
	if err := l.Truncate(50); err != nil {
		t.Fatal(err)
	}
	c := openLog(t, cp, cfg)
	checkRange(t, c, 0, 100)
	if got, want := c.LastIndex(), rec(99).Index; got != want {
		t.Errorf("checkpoint LastIndex = %d, want %d", got, want)
	}
	appendN(t, c, 100, 5)
	checkRange(t, l, 0, 50)
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v", err)
	}
	// A negative SegmentMaxAge is valid: no roll by age.
	err := Config{Options: Options{SegmentMaxSize: -1, SegmentMaxAge: -1, IndexInterval: -1}, MaxRecordSize: -1}.Validate()
	if err == nil {
		t.Fatal("Validate of a bad config = nil")
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 3 {
		t.Errorf("Validate reported %d problems, want 3: %v", n, err)
	}
	for _, field := range []string{"SegmentMaxSize", "IndexInterval", "MaxRecordSize"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("Validate does not name %s: %v", field, err)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("a zero Config (every field defaulted) is invalid: %v", err)
	}
}

// Options' zero fields take the package's defaults, the age a day.
func TestOptionsEnsureDefaults(t *testing.T) {
	var o Options
	o.EnsureDefaults()
	if want := DefaultOptions(); o != want {
		t.Errorf("Options{}.EnsureDefaults() = %+v, want %+v", o, want)
	}
	if o.SegmentMaxAge != 24*time.Hour {
		t.Errorf("default SegmentMaxAge = %v, want 24h", o.SegmentMaxAge)
	}
	o = Options{SegmentMaxSize: 1 << 20, SegmentMaxAge: -1, IndexInterval: 512}
	set := o
	o.EnsureDefaults()
	if o != set {
		t.Errorf("EnsureDefaults changed set fields: %+v, want %+v", o, set)
	}
}

func TestTruncateInsideBatch(t *testing.T) {
	for _, roll := range []bool{false, true} {
		dir := t.TempDir()
		l := openLog(t, dir, testConfig())
		var rs []Record
		for i := uint64(0); i < 20; i++ {
			rs = append(rs, rec(i))
		}
		if _, err := l.AppendBatch(rs); err != nil {
			t.Fatal(err)
		}
		if roll {
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			appendN(t, l, 20, 5)
		}
		if err := l.Truncate(13); err != nil {
			t.Fatal(err)
		}
		l.Close()
		l2 := openLog(t, dir, testConfig())
		checkRange(t, l2, 0, 13)
		appendN(t, l2, 13, 2)
		l2.Close()
		l3 := openLog(t, dir, testConfig())
		checkRange(t, l3, 0, 15)
	}
}

func TestReadEveryOffset(t *testing.T) {
	for _, interval := range []int{1, 64, 4096} {
		cfg := testConfig()
		cfg.IndexInterval = interval
		cfg.SegmentMaxSize = 700
		dir := t.TempDir()
		l := openLog(t, dir, cfg)
		appendN(t, l, 0, 60)
		for pass := 0; pass < 2; pass++ {
			for off := uint64(0); off < 60; off++ {
				rs, err := l.Read(off, 1, 0)
				if err != nil || len(rs) != 1 || rs[0].Offset != off {
					t.Fatalf("interval %d pass %d: Read(%d) = %v, %v", interval, pass, off, rs, err)
				}
				for _, ts := range []int64{rec(off).Timestamp, rec(off).Timestamp - 1} {
					if got, err := l.FindOffsetByTime(ts); err != nil || got != off {
						t.Fatalf("interval %d: FindOffsetByTime(%d) = %d, %v; want %d", interval, ts, got, err, off)
					}
				}
			}
			l.Close()
			l = openLog(t, dir, cfg) // the rebuilt/loaded index must agree
		}
	}
}

func TestCheckpointLinksFiles(t *testing.T) {
	dir, cp := t.TempDir(), filepath.Join(t.TempDir(), "cp")
	l := openLog(t, dir, testConfig())
	appendN(t, l, 0, 10)
	if err := l.Checkpoint(cp); err != nil {
		t.Fatal(err)
	}
	name := segmentName(0) + logSuffix
	a, err1 := os.Stat(filepath.Join(dir, name))
	b, err2 := os.Stat(filepath.Join(cp, name))
	if err1 != nil || err2 != nil || !os.SameFile(a, b) {
		t.Fatalf("checkpoint file is not a hard link of the source: %v %v", err1, err2)
	}
	segs := l.Segments()
	if len(segs) != 2 || !segs[0].Sealed || segs[1].NextOffset != 10 {
		t.Fatalf("after Checkpoint segments = %+v, want one sealed and an empty active", segs)
	}
}
