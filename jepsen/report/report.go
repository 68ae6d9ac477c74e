package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/flowmesh/flowmesh/jepsen/checker"
	"github.com/flowmesh/flowmesh/jepsen/history"
	"github.com/flowmesh/flowmesh/jepsen/nemesis"
)

// DefaultStore is where runs go unless Config.Store says otherwise.
const DefaultStore = "jepsen/store"

// TimeFormat names a run's directory.
const TimeFormat = "20060102T150405.000Z"

// File names inside a run's directory.
const (
	ResultsFile         = "results.json"
	HistoryFile         = "history.jsonl"
	LinearizabilityFile = "linearizability.html"
	LatencyFile         = "latency.svg"
	ThroughputFile      = "throughput.svg"
	LogsDir             = "logs"
)

// Config names a run.
type Config struct {
	Store string    // "" = DefaultStore
	Test  string    // e.g. "kv-kill,pause"; one directory level, no separators
	Start time.Time // the run's start; zero = now
}

// Run is one run's directory.
type Run struct {
	store, test, name string
}

// Open creates the run's directory.
func Open(cfg Config) (*Run, error) {
	if cfg.Store == "" {
		cfg.Store = DefaultStore
	}
	if cfg.Test == "" || cfg.Test != filepath.Base(cfg.Test) || cfg.Test == "latest" || cfg.Test == "." || cfg.Test == ".." {
		return nil, fmt.Errorf("report: test name %q must be one path element other than \"latest\"", cfg.Test)
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	r := &Run{store: cfg.Store, test: cfg.Test, name: cfg.Start.UTC().Format(TimeFormat)}
	if err := os.MkdirAll(r.Dir(), 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return r, nil
}

// Dir is the run's directory.
func (r *Run) Dir() string { return filepath.Join(r.store, r.test, r.name) }

// Path is the path of a file in the run's directory.
func (r *Run) Path(name string) string { return filepath.Join(r.Dir(), name) }

// Results is the content of results.json.
type Results struct {
	Test     string           `json:"test"`
	Workload string           `json:"workload"`
	Command  []string         `json:"command,omitempty"`
	Seed     int64            `json:"seed"`
	Start    time.Time        `json:"start"`
	Elapsed  time.Duration    `json:"elapsed_ns"`
	Valid    checker.Validity `json:"valid"`
	// Anomalies sums the checks' anomaly counts.
	Anomalies map[string]int            `json:"anomalies"`
	Checks    map[string]checker.Result `json:"checks"`
	Nemesis   nemesis.Schedule          `json:"nemesis"`
	Notes     []string                  `json:"notes,omitempty"`
}

// Summarize sets Valid and Anomalies from Checks. No checks is Unknown:
// nothing was decided.
func (res *Results) Summarize() {
	if len(res.Checks) == 0 {
		res.Valid, res.Anomalies = checker.Unknown, map[string]int{}
		return
	}
	names := make([]string, 0, len(res.Checks))
	for n := range res.Checks {
		names = append(names, n)
	}
	sort.Strings(names)
	var rs []checker.Result
	for _, n := range names {
		rs = append(rs, res.Checks[n])
	}
	m := checker.Merge(rs...)
	res.Valid, res.Anomalies = m.Valid, m.Anomalies
}

// WriteResults writes results.json.
func (r *Run) WriteResults(res Results) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("report: encode results: %w", err)
	}
	return writeFile(r.Path(ResultsFile), append(b, '\n'))
}

// ReadResults reads a results.json.
func ReadResults(path string) (Results, error) {
	var res Results
	b, err := os.ReadFile(path)
	if err != nil {
		return res, fmt.Errorf("report: %w", err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return res, fmt.Errorf("report: %s: %w", path, err)
	}
	return res, nil
}

// WriteHistory writes history.jsonl.
func (r *Run) WriteHistory(ops []history.Op) error {
	f, err := os.Create(r.Path(HistoryFile))
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	err = history.WriteJSONL(f, ops)
	return errors.Join(err, f.Close())
}

// WritePlots writes latency.svg and throughput.svg.
func (r *Run) WritePlots(title string, ops []history.Op, windows []history.Window) error {
	return errors.Join(
		writeFile(r.Path(LatencyFile), []byte(LatencySVG(title, ops, windows))),
		writeFile(r.Path(ThroughputFile), []byte(ThroughputSVG(title, ops, windows))),
	)
}

// CopyNodeLog copies the file src into logs/<node>/ under its own name.
func (r *Run) CopyNodeLog(node, src string) error {
	if node == "" || node != filepath.Base(node) || node == "." || node == ".." {
		return fmt.Errorf("report: node name %q must be one path element", node)
	}
	dir := filepath.Join(r.Dir(), LogsDir, node)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer in.Close()
	out, err := os.Create(filepath.Join(dir, filepath.Base(src)))
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err = io.Copy(out, in)
	if err := errors.Join(err, out.Close()); err != nil {
		return fmt.Errorf("report: copy %s: %w", src, err)
	}
	return nil
}

// LinkLatest points <store>/<test>/latest and <store>/latest at this run.
func (r *Run) LinkLatest() error {
	return errors.Join(
		relink(filepath.Join(r.store, r.test, "latest"), r.name),
		relink(filepath.Join(r.store, "latest"), filepath.Join(r.test, r.name)),
	)
}

// relink makes link a symlink to target, replacing what was there atomically.
func relink(link, target string) error {
	tmp := link + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

func writeFile(path string, b []byte) error {
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
