package metrics

import (
	gometrics "github.com/hashicorp/go-metrics"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
)

// InstallRaftSink routes hashicorp/go-metrics, which raft reports to (among
// others raft.commitTime, raft.fsm.apply, raft.fsm.batchApply), into r as
// flowmesh_raft_* summaries. go-metrics is process-global, so only main
// calls this, once. raft-wal (--raft-log-store wal) reports to
// armon/go-metrics; its timers are not exported.
func InstallRaftSink(r *Registry) error {
	sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{
		Registerer: r.reg,
		Name:       "flowmesh_raft_sink",
	})
	if err != nil {
		return err
	}
	conf := gometrics.DefaultConfig(Namespace)
	conf.EnableHostname = false
	conf.EnableHostnameLabel = false
	conf.EnableRuntimeMetrics = false // the Go collector covers the runtime
	_, err = gometrics.NewGlobal(conf, sink)
	return err
}
