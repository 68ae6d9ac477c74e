#!/usr/bin/env bash
# Checks the shipped Prometheus alert rules with promtool (syntax, and the
# unit tests in deploy/prometheus/flowmesh-rules.test.yml) and that the
# Grafana dashboard is valid JSON. That every metric they name is exported
# is checked against live nodes by test/cluster's TestMetricsOnEveryNode.
# promtool comes from Debian's prometheus package (installed when missing
# and running as root).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v promtool >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
	else
		echo "check-prometheus: promtool not found; apt-get install prometheus" >&2
		exit 1
	fi
fi
promtool check rules deploy/prometheus/flowmesh-rules.yml
(cd deploy/prometheus && promtool test rules flowmesh-rules.test.yml)
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["panels"], "no panels"; print("dashboard:", len(d["panels"]), "panels")' deploy/grafana/flowmesh-dashboard.json
