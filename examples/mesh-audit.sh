#!/usr/bin/env bash
# Audit a node of the mesh as it runs today (docs/mesh.md): every check runs, even after one fails,
# so the operator sees every problem at once. A check whose input is not given is skipped.
#
#   1. switches  x0ctl doctor                          the PQC switches the mesh reads; fails on a
#                                                      production node with an insecure one set
#   2. lint      x0ctl slo lint $RULES                 alerts and panels querying series nothing exports
#   3. slo       x0ctl slo check                       the SLOs, reading the mesh's metric names
#   4. capture   x0ctl quorum verify $CAPTURE          captured gossip/beacons, signed as the mesh signs
#                                                      them, keys bound to senders by $PINS
#   5. agent     x0ctl handshake probe --protocol      the Go agent's UDP handshake, pinned to
#                mesh-agent-udp $AGENT --audit         $AGENT_KEY, and what its protocol leaves open
#
#   PROMETHEUS_URL=http://prometheus:9090 RULES="alerts.yaml dash.json" CAPTURE=gossip.jsonl \
#     PINS=pins.yaml AGENT=10.0.0.7:5000 AGENT_KEY=agent.pub.hex ./mesh-audit.sh
#
# Exit status: 0 when every check that ran passed, else the exit status of the first that failed
# (1 findings / breach, 2 usage, 4 unreachable, 5 no SLO data). With REPORT_DIR set, each check's
# JSON report is kept there (switches.json, lint.json, slo.json, capture.json, agent.json).
set -euo pipefail

PROMETHEUS_URL=${PROMETHEUS_URL:-http://127.0.0.1:9090}
RULES=${RULES:-}                        # rule files / PrometheusRules / Grafana dashboards, space-separated
AT=${AT:-}                              # judge lint and SLOs at this instant instead of now (drills)
SLO_SELECTOR=${SLO_SELECTOR:-}          # e.g. {job="mesh",instance="node-7"}
CAPTURE=${CAPTURE:-}                    # JSON Lines capture (docs/mesh.md)
CAPTURE_FORMAT=${CAPTURE_FORMAT:-mesh-gossip}
PINS=${PINS:-}                          # node id -> ML-DSA-65 public key(s)
AGENT=${AGENT:-}                        # HOST[:PORT] of a Go agent (port 5000 by default)
AGENT_KEY=${AGENT_KEY:-}                # the agent's ML-DSA-65 public key (PEM, raw or hex)
REPORT_DIR=${REPORT_DIR:-}
X0CTL=${X0CTL:-x0ctl}                   # e.g. "python3 -m x0ctl"

read -r -a x0ctl <<<"$X0CTL"
[[ -z "$REPORT_DIR" ]] || mkdir -p "$REPORT_DIR"

first_failure=0
summary=()

# check NAME COMMAND...: run one check, record PASS/FAIL, never stop the script.
check() {
    local name=$1 status=0
    shift
    if [[ -n "$REPORT_DIR" ]]; then
        "${x0ctl[@]}" "$@" -o json >"$REPORT_DIR/$name.json" || status=$?
    else
        "${x0ctl[@]}" "$@" || status=$?
    fi
    if ((status == 0)); then
        summary+=("PASS  $name")
    else
        summary+=("FAIL  $name (exit $status)")
        ((first_failure)) || first_failure=$status
    fi
}

skip() { summary+=("SKIP  $1 ($2 not set)"); }

check switches doctor --no-measure

if [[ -n "$RULES" ]]; then
    read -r -a rule_files <<<"$RULES"
    lint_args=(slo lint "${rule_files[@]}" --prometheus "$PROMETHEUS_URL")
    [[ -z "$AT" ]] || lint_args+=(--at "$AT")
    check lint "${lint_args[@]}"
else
    skip lint RULES
fi

slo_args=(slo check --prometheus "$PROMETHEUS_URL")
[[ -z "$SLO_SELECTOR" ]] || slo_args+=(--selector "$SLO_SELECTOR")
[[ -z "$AT" ]] || slo_args+=(--at "$AT")
check slo "${slo_args[@]}"

if [[ -n "$CAPTURE" ]]; then
    capture_args=(quorum verify --format "$CAPTURE_FORMAT" "$CAPTURE")
    [[ -z "$PINS" ]] || capture_args+=(--keys "$PINS")
    check capture "${capture_args[@]}"
else
    skip capture CAPTURE
fi

if [[ -n "$AGENT" ]]; then
    agent_args=(handshake probe --protocol mesh-agent-udp "$AGENT" --audit --timeout 2)
    [[ -z "$AGENT_KEY" ]] || agent_args+=(--peer-key "$AGENT_KEY")
    check agent "${agent_args[@]}"
else
    skip agent AGENT
fi

{
    echo "mesh audit:"
    printf '  %s\n' "${summary[@]}"
    if ((first_failure)); then echo "  => findings: see above"; else echo "  => no findings"; fi
} >&2
exit "$first_failure"
