// Package metrics exports a node's Prometheus metrics: the standard gRPC
// server metrics (grpc_server_*, named and labelled as go-grpc-middleware's
// Prometheus provider does, with each method's series resolved once; their
// interceptors make Registry an rpc.Metrics), gauges read
// from the node at scrape time (raft indexes, segment bytes, queue depths,
// and the FSM's per-queue redelivered and dead counters), and raft's own
// go-metrics timers (commit and FSM apply latency) through a Prometheus sink,
// and every resource budget (BudgetCollector): one family each for use,
// limit and refusals, labelled by budget and reason, so a new budget needs
// no new metric name and one alert (use/limit) covers them all.
//
// Tenant quota use and limits (tenants.go) are labelled by tenant with a
// bounded cardinality: the MaxTenantSeries tenants storing the most bytes
// get their own series, the rest are summed as tenant="_other". Stream
// sizes and queue depths and counters likewise (resources.go): the
// MaxResourceSeries largest of each kind, the rest as path="_other".
//
// Everything is registered on one *prometheus.Registry owned by a Registry,
// not on the global default, so tests and embedded nodes do not collide.
package metrics
