package metrics

import "github.com/prometheus/client_golang/prometheus"

// Budget is one resource budget's use at scrape time, e.g. the gRPC
// connections open against the connection limit.
type Budget struct {
	Name  string // e.g. "grpc_connections", "raft_inflight_bytes"
	Use   float64
	Limit float64
}

// Refusals counts what a budget refused, since start-up, by reason.
type Refusals struct {
	Budget string
	Reason string // e.g. "over_limit", "idle", "too_large"
	Count  uint64
}

// BudgetStats is what a BudgetCollector reads at scrape time.
type BudgetStats struct {
	Budgets  []Budget
	Refusals []Refusals
}

// BudgetFunc reads the node's budgets; it must be cheap (no I/O).
type BudgetFunc func() BudgetStats

// BudgetCollector exports every budget as flowmesh_budget_use and
// flowmesh_budget_limit gauges and flowmesh_budget_refused_total counters,
// labelled by budget (and reason), so one alert rule covers them all.
type BudgetCollector struct {
	stats              BudgetFunc
	use, limit, refuse *prometheus.Desc
}

var _ prometheus.Collector = (*BudgetCollector)(nil)

// NewBudgetCollector returns a collector over stats.
func NewBudgetCollector(stats BudgetFunc) *BudgetCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "budget", name), help, labels, nil)
	}
	return &BudgetCollector{
		stats:  stats,
		use:    d("use", "Current use of a resource budget.", "budget"),
		limit:  d("limit", "Limit of a resource budget.", "budget"),
		refuse: d("refused_total", "What a resource budget refused or closed since start-up, by reason.", "budget", "reason"),
	}
}

// Describe implements prometheus.Collector.
func (c *BudgetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.use
	ch <- c.limit
	ch <- c.refuse
}

// Collect implements prometheus.Collector.
func (c *BudgetCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	for _, b := range st.Budgets {
		ch <- prometheus.MustNewConstMetric(c.use, prometheus.GaugeValue, b.Use, b.Name)
		ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, b.Limit, b.Name)
	}
	for _, r := range st.Refusals {
		ch <- prometheus.MustNewConstMetric(c.refuse, prometheus.CounterValue, float64(r.Count), r.Budget, r.Reason)
	}
}
