#!/usr/bin/env bash
# Gate a deployment on three checks, run in order, all of them even when one fails (so the operator
# sees every problem at once):
#
#   1. kat        x0ctl verify kat                     the PQC implementation on this node is correct
#   2. handshake  x0ctl handshake selftest --negative  hybrid handshakes work, meet the SLOs, reject attacks
#   3. slo        x0ctl slo check                      the mesh is within its SLOs right now
#
#   PROMETHEUS_URL=http://prometheus:9090 SLO_SELECTOR='{job="x0"}' ./pre-deploy-gate.sh && deploy
#
# Exit status: 0 when every gate passes, else the exit status of the first gate that failed
# (1 check failed / SLO breach, 2 usage, 3 environment, 4 Prometheus unreachable, 5 no SLO data).
# With REPORT_DIR set, each gate's JSON report is kept there (kat.json, handshake.json, slo.json).
set -euo pipefail

PROMETHEUS_URL=${PROMETHEUS_URL:-http://127.0.0.1:9090}
SLO_SELECTOR=${SLO_SELECTOR:-}          # e.g. {job="x0",instance=~"node-.*"}
SLO_SPEC=${SLO_SPEC:-}                  # x0ctl or OpenSLO spec; default: the mesh's built-in SLOs
SLO_AT=${SLO_AT:-}                      # judge at this instant instead of now (replays, drills)
KAT_ALGORITHMS=${KAT_ALGORITHMS:-ML-KEM-768,ML-DSA-65,X-Wing}
HANDSHAKE_COUNT=${HANDSHAKE_COUNT:-200}
REPORT_DIR=${REPORT_DIR:-}
X0CTL=${X0CTL:-x0ctl}                   # e.g. "python3 -m x0ctl" or "x0ctl --backend liboqs"

read -r -a x0ctl <<<"$X0CTL"
[[ -z "$REPORT_DIR" ]] || mkdir -p "$REPORT_DIR"

first_failure=0
summary=()

# gate NAME COMMAND...: run one gate, record PASS/FAIL, never stop the script.
gate() {
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

gate kat verify kat --algorithms "$KAT_ALGORITHMS"
gate handshake handshake selftest --count "$HANDSHAKE_COUNT" --negative

slo_args=(slo check --prometheus "$PROMETHEUS_URL")
[[ -z "$SLO_SELECTOR" ]] || slo_args+=(--selector "$SLO_SELECTOR")
[[ -z "$SLO_SPEC" ]] || slo_args+=(--spec "$SLO_SPEC")
[[ -z "$SLO_AT" ]] || slo_args+=(--at "$SLO_AT")
gate slo "${slo_args[@]}"

{
    echo "pre-deploy gate:"
    printf '  %s\n' "${summary[@]}"
    if ((first_failure)); then echo "  => do not deploy"; else echo "  => clear to deploy"; fi
} >&2
exit "$first_failure"
