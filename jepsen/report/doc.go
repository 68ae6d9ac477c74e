// Package report writes a test run's artifacts:
//
//	<store>/<test>/<time>/results.json        verdict, anomaly counts and examples, seed, nemesis schedule
//	<store>/<test>/<time>/history.jsonl       the history (format in package history)
//	<store>/<test>/<time>/linearizability.html porcupine's visualisation (kv; written by the checker)
//	<store>/<test>/<time>/latency.svg         latency of every op over time, faults shaded
//	<store>/<test>/<time>/throughput.svg      completions per second by outcome, faults shaded
//	<store>/<test>/<time>/logs/<node>/...     copies of the nodes' logs
//	<store>/<test>/latest -> <time>
//	<store>/latest -> <test>/<time>
//
// <time> is the run's start in UTC, "20060102T150405.000Z", so runs sort by
// name. The store defaults to jepsen/store. The latest links are replaced
// atomically (a new link renamed over the old), so a reader never sees
// them missing.
//
// Plots are plain SVG strings built here, with no dependencies: ops are
// points coloured by outcome (ok green, info orange, fail red) and fault
// windows are shaded bands labelled with their kind.
package report
