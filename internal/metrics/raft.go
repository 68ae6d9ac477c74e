package metrics

import (
	"sort"
	"strings"
	"sync"
	"unicode"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// InstallRaftSink routes hashicorp/go-metrics, which raft and memberlist
// report to, into r under Prometheus' conventions (RaftSink). go-metrics is
// process-global, so only main calls this, once. raft-wal (the default raft
// log store) reports to armon/go-metrics; its timers are not exported.
func InstallRaftSink(r *Registry) error { return InstallRaftSinkOn(r.reg) }

// InstallRaftSinkOn is InstallRaftSink onto any registry (an embedding
// program's). It replaces the process's global go-metrics sink.
func InstallRaftSinkOn(r prometheus.Registerer) error {
	sink := NewRaftSink()
	if err := r.Register(sink); err != nil {
		return err
	}
	_, err := gometrics.NewGlobal(sinkConfig(), sink)
	return err
}

// sinkConfig is how go-metrics reports to a RaftSink.
func sinkConfig() *gometrics.Config {
	conf := gometrics.DefaultConfig("")
	conf.EnableHostname = false
	conf.EnableHostnameLabel = false
	conf.EnableRuntimeMetrics = false // the Go collector covers the runtime
	conf.EnableTypePrefix = true      // tells timers from other samples (RaftSink)
	// No service name: the sink prefixes every name with Namespace itself,
	// and go-metrics would copy each report's key once more to insert it.
	return conf
}

// RaftSink is a go-metrics sink that exports what raft and memberlist report
// as Prometheus metrics with conventional names: keys in snake_case under
// flowmesh_ (raft.commitTime → flowmesh_raft_commit_time_seconds), timers
// as histograms in seconds (go-metrics hands them over in milliseconds),
// other samples as unitless histograms, counters with _total. It needs the
// type prefix go-metrics adds with Config.EnableTypePrefix.
type RaftSink struct {
	mu         sync.RWMutex // guards the maps; the vectors are safe to use concurrently
	histograms map[string]*prometheus.HistogramVec
	counters   map[string]*prometheus.CounterVec
	gauges     map[string]*prometheus.GaugeVec

	// series memoizes what a report resolves to, by its key and labels as
	// go-metrics passes them: raft reports several timings per log entry
	// and package cluster several per command, and resolving one (the
	// Prometheus name, the label map, the vector, the child's label hash)
	// cost more than the rest of a kv-put's path through cluster.Apply.
	seriesMu sync.RWMutex
	series   map[string]*sinkSeries
}

// sinkSeries is one resolved metric: a child of a vector, and what a
// reported sample is divided by (1000 for a timer: milliseconds to seconds).
type sinkSeries struct {
	observer prometheus.Observer
	counter  prometheus.Counter
	gauge    prometheus.Gauge
	div      float64
}

// maxSinkSeries bounds the memo: go-metrics labels come from raft and
// memberlist (peer and node IDs), so the set is small, but a label value
// that never repeats must not grow it without end; past the bound reports
// take the slow path.
const maxSinkSeries = 4096

// Report kinds in a memo key.
const (
	sinkSample  = 's'
	sinkCounter = 'c'
	sinkGauge   = 'g'
)

// memoKey appends a report's identity to b: its kind, then every key part
// and every label name and value, each ended by a control byte (0 after a
// key part, 1 after a label name, 2 after its value); raft's and
// memberlist's keys and labels hold none.
func memoKey(b []byte, kind byte, key []string, labels []gometrics.Label) []byte {
	b = append(b, kind)
	for _, k := range key {
		b = append(b, k...)
		b = append(b, 0)
	}
	for _, l := range labels {
		b = append(b, l.Name...)
		b = append(b, 1)
		b = append(b, l.Value...)
		b = append(b, 2)
	}
	return b
}

// lookup returns the memoized series for k, or nil.
func (s *RaftSink) lookup(k []byte) *sinkSeries {
	s.seriesMu.RLock()
	ser := s.series[string(k)] // no allocation: the conversion is only for the lookup
	s.seriesMu.RUnlock()
	return ser
}

// remember memoizes ser under k, unless the memo is full.
func (s *RaftSink) remember(k []byte, ser *sinkSeries) {
	s.seriesMu.Lock()
	defer s.seriesMu.Unlock()
	if len(s.series) < maxSinkSeries {
		s.series[string(k)] = ser
	}
}

var _ gometrics.MetricSink = (*RaftSink)(nil)

// NewRaftSink returns an empty sink; register it with a Registry.
func NewRaftSink() *RaftSink {
	return &RaftSink{
		histograms: map[string]*prometheus.HistogramVec{},
		counters:   map[string]*prometheus.CounterVec{},
		gauges:     map[string]*prometheus.GaugeVec{},
		series:     map[string]*sinkSeries{},
	}
}

// Describe sends nothing: the metrics appear as raft reports them (an
// unchecked collector).
func (s *RaftSink) Describe(chan<- *prometheus.Desc) {}

// Collect sends every metric reported so far.
func (s *RaftSink) Collect(ch chan<- prometheus.Metric) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, h := range s.histograms {
		h.Collect(ch)
	}
	for _, c := range s.counters {
		c.Collect(ch)
	}
	for _, g := range s.gauges {
		g.Collect(ch)
	}
}

// name turns a go-metrics key (type prefix and service name removed) into
// a Prometheus name: ["raft","fsm","applyBatch"] → flowmesh_raft_fsm_apply_batch.
func name(key []string) string {
	var b strings.Builder
	b.WriteString(Namespace)
	for _, part := range key {
		b.WriteByte('_')
		prevLower := false
		for _, r := range part {
			switch {
			case unicode.IsUpper(r):
				if prevLower {
					b.WriteByte('_')
				}
				b.WriteRune(unicode.ToLower(r))
				prevLower = false
			case unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
				prevLower = true
			default:
				b.WriteByte('_')
				prevLower = false
			}
		}
	}
	return b.String()
}

// split returns the key's type ("timer", "sample", "counter", "gauge",
// "kv") and the rest, without the service name go-metrics inserts first.
func split(key []string) (kind string, rest []string) {
	if len(key) > 0 && key[0] == Namespace {
		key = key[1:]
	}
	if len(key) == 0 {
		return "", nil
	}
	return key[0], key[1:]
}

func labelsOf(ls []gometrics.Label) (names []string, values prometheus.Labels) {
	values = prometheus.Labels{}
	for _, l := range ls {
		n := strings.TrimPrefix(name([]string{l.Name}), Namespace+"_")
		if _, dup := values[n]; !dup {
			names = append(names, n)
		}
		values[n] = l.Value
	}
	sort.Strings(names)
	return names, values
}

// vecKey identifies a vector by name and label names: go-metrics may send
// one key with different labels, which Prometheus needs as separate vectors
// only if the label names differ; they do not in raft, but be safe.
func vecKey(n string, labels []string) string { return n + "{" + strings.Join(labels, ",") + "}" }

// SetGauge implements gometrics.MetricSink.
func (s *RaftSink) SetGauge(key []string, val float32) { s.SetGaugeWithLabels(key, val, nil) }

// SetGaugeWithLabels implements gometrics.MetricSink.
func (s *RaftSink) SetGaugeWithLabels(key []string, val float32, labels []gometrics.Label) {
	var buf [128]byte
	k := memoKey(buf[:0], sinkGauge, key, labels)
	if ser := s.lookup(k); ser != nil {
		ser.gauge.Set(float64(val))
		return
	}
	_, rest := split(key)
	n := name(rest)
	ln, lv := labelsOf(labels)
	g := vecFor(s, s.gauges, vecKey(n, ln), func() *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: n, Help: "raft/memberlist gauge " + strings.Join(rest, ".")}, ln)
	})
	child := g.With(lv)
	child.Set(float64(val))
	s.remember(k, &sinkSeries{gauge: child})
}

// EmitKey implements gometrics.MetricSink; key/value events have no
// Prometheus counterpart and are dropped.
func (s *RaftSink) EmitKey([]string, float32) {}

// IncrCounter implements gometrics.MetricSink.
func (s *RaftSink) IncrCounter(key []string, val float32) { s.IncrCounterWithLabels(key, val, nil) }

// IncrCounterWithLabels implements gometrics.MetricSink.
func (s *RaftSink) IncrCounterWithLabels(key []string, val float32, labels []gometrics.Label) {
	var buf [128]byte
	k := memoKey(buf[:0], sinkCounter, key, labels)
	if ser := s.lookup(k); ser != nil {
		if val > 0 {
			ser.counter.Add(float64(val))
		}
		return
	}
	_, rest := split(key)
	n := name(rest)
	if !strings.HasSuffix(n, "_total") {
		n += "_total"
	}
	ln, lv := labelsOf(labels)
	c := vecFor(s, s.counters, vecKey(n, ln), func() *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: n, Help: "raft/memberlist counter " + strings.Join(rest, ".")}, ln)
	})
	child := c.With(lv)
	if val > 0 {
		child.Add(float64(val))
	}
	s.remember(k, &sinkSeries{counter: child})
}

// AddSample implements gometrics.MetricSink.
func (s *RaftSink) AddSample(key []string, val float32) { s.AddSampleWithLabels(key, val, nil) }

// AddSampleWithLabels implements gometrics.MetricSink: a timer (in
// milliseconds) becomes a _seconds histogram, another sample a unitless one.
func (s *RaftSink) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	var buf [128]byte
	k := memoKey(buf[:0], sinkSample, key, labels)
	if ser := s.lookup(k); ser != nil {
		ser.observer.Observe(float64(val) / ser.div)
		return
	}
	kind, rest := split(key)
	n := name(rest)
	v := float64(val)
	div := 1.0
	buckets := prometheus.ExponentialBuckets(1, 2, 14) // counts: 1 .. 8192
	help := "raft/memberlist sample " + strings.Join(rest, ".")
	if kind == "timer" {
		n += "_seconds"
		div = 1000
		v /= div
		buckets = prometheus.ExponentialBuckets(25e-6, 2, 20) // 25µs .. ~13s
		help = "raft/memberlist timing " + strings.Join(rest, ".") + ", in seconds"
	}
	ln, lv := labelsOf(labels)
	h := vecFor(s, s.histograms, vecKey(n, ln), func() *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: n, Help: help, Buckets: buckets}, ln)
	})
	child := h.With(lv)
	child.Observe(v)
	s.remember(k, &sinkSeries{observer: child, div: div})
}

// vecFor returns m's vector for k, made with mk the first time: a read lock
// on the hot path, where every raft timing passes.
func vecFor[V any](s *RaftSink, m map[string]V, k string, mk func() V) V {
	s.mu.RLock()
	v, ok := m[k]
	s.mu.RUnlock()
	if ok {
		return v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := m[k]; ok {
		return v
	}
	v = mk()
	m[k] = v
	return v
}
