#!/usr/bin/env bash
# Offline checks of the monitoring files: the Prometheus rules (promtool check + unit tests) and the
# Grafana dashboard's JSON. Installs Debian's `prometheus` package for promtool when it is missing
# (needs root or sudo). Run from anywhere: bash deploy/check-monitoring.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."

if ! command -v promtool >/dev/null 2>&1; then
    echo "promtool not found: installing Debian's prometheus package" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get install -y --no-install-recommends prometheus >&2 \
        || { $sudo apt-get update >&2 && $sudo apt-get install -y --no-install-recommends prometheus >&2; } \
        || true
fi
if ! command -v promtool >/dev/null 2>&1; then
    echo "ERROR: promtool is still missing (apt-get install prometheus failed); cannot check the rules" >&2
    exit 1
fi
promtool --version 2>&1 | head -n 1

promtool check rules deploy/prometheus/rules.yaml
promtool test rules deploy/prometheus/rules_test.yaml

python="python3"
if [ -x .venv/bin/python ]; then python=".venv/bin/python"; fi
"$python" - deploy/grafana/incident-bot.json <<'PY'
import json, sys
path = sys.argv[1]
with open(path, encoding="utf-8") as f:
    dashboard = json.load(f)
assert dashboard["schemaVersion"] >= 36, "schemaVersion below 36"
panels = [p for p in dashboard["panels"] if p.get("type") != "row"]
assert panels, "no panels"
missing = [p["title"] for p in panels if not p.get("targets")]
assert not missing, f"panels without queries: {missing}"
print(f"{path}: {len(panels)} panels, schemaVersion {dashboard['schemaVersion']}: OK")
PY
echo "monitoring checks passed (metric names: pytest tests/deploy/test_metrics_catalogue.py)"
