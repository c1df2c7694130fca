#!/bin/bash
# The observability bundle without a cluster (docs/observability.md):
# observability/alerts.yml passes `promtool check rules` and the unit tests
# of tests/observability/alerts_test.yml (each alert fires on its condition
# and not on a healthy series), observability/prometheus.yml passes
# `promtool check config`, and the Grafana dashboard is well formed and
# queries only godfs and process metrics. tests/e2e/e2e_alerts.sh fires the
# same rules on a real cluster and checks the dashboard's metrics against
# real scrapes.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "rules.sh: FAIL: $*"; exit 1; }
command -v promtool >/dev/null || fail "promtool is missing (Debian package prometheus: scripts/deps.sh)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/godfs-rules.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

promtool check rules "$top/observability/alerts.yml" || fail "promtool check rules"
# every alert the rules define is tested by alerts_test.yml
for a in $(sed -n 's/^ *- alert: *//p' "$top/observability/alerts.yml"); do
	grep -q "alertname: $a\$" "$top/tests/observability/alerts_test.yml" ||
		fail "alert $a has no test in tests/observability/alerts_test.yml"
done
(cd "$top/tests/observability" && promtool test rules alerts_test.yml) || fail "promtool test rules"
# check config resolves rule_files next to the config: check a copy
cp "$top/observability/prometheus.yml" "$top/observability/alerts.yml" "$tmp/"
promtool check config "$tmp/prometheus.yml" || fail "promtool check config"
python3 "$top/tests/observability/dashboard.py" "$top/observability/grafana-godfs.json" >/dev/null ||
	fail "observability/grafana-godfs.json"
echo "rules.sh: the rules, their tests, the example configuration and the dashboard are fine"
