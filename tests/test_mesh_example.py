"""examples/mesh-audit.sh end to end: a real Prometheus with the mesh's names, a capture, a UDP agent responder."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .agent_udp_responder import AgentResponder
from .mesh_encoder import MeshNode, gossip_line
from .mesh_history import END, history
from .promserver import prometheus_fixture
from .test_examples import run_script

prometheus = prometheus_fixture(lambda: history(jobs=("mesh",)), scope="module")
LINT = Path(__file__).parent / "slo_lint"


def checks(stderr: str) -> dict[str, str]:
    return {m.group(2): m.group(1) for m in re.finditer(r"^  (PASS|FAIL|SKIP)  (\w+)", stderr, re.MULTILINE)}


def capture(tmp_path: Path) -> dict[str, str]:
    node = MeshNode.new("node-1")
    (tmp_path / "gossip.jsonl").write_text(gossip_line(node, extra={"received_at": 1748736000.25}) + "\n")
    (tmp_path / "pins.yaml").write_text(f"node-1: {node.public_key.hex()}\n")
    return {"CAPTURE": str(tmp_path / "gossip.jsonl"), "PINS": str(tmp_path / "pins.yaml")}


def test_a_clean_node_passes(prometheus, tmp_path):
    reports = tmp_path / "reports"
    result = run_script("mesh-audit.sh", {"PROMETHEUS_URL": prometheus.url, "AT": str(END),
                                          "SLO_SELECTOR": '{job="mesh",instance="node-1"}',
                                          "RULES": str(LINT / "fine.yaml"), "REPORT_DIR": str(reports),
                                          **capture(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert checks(result.stderr) == {"switches": "PASS", "lint": "PASS", "slo": "PASS", "capture": "PASS",
                                     "agent": "SKIP"}
    assert json.loads((reports / "slo.json").read_text())["summary"] == {"ok": 4, "breach": 0, "no_data": 0, "no_events": 0}
    assert json.loads((reports / "capture.json").read_text())["summary"]["pinned"] == 1


def test_every_check_runs_and_the_first_failure_wins(prometheus, tmp_path):
    with AgentResponder() as agent:
        (tmp_path / "agent.hex").write_text(agent.public_key.hex())
        result = run_script("mesh-audit.sh", {
            "PROMETHEUS_URL": prometheus.url, "AT": str(END), "SLO_SELECTOR": '{job="mesh"}',
            "RULES": f"{LINT / 'mesh-alerts.yaml'} {LINT / 'pqc-dashboard.json'}", "AGENT": agent.address,
            "AGENT_KEY": str(tmp_path / "agent.hex"), "REPORT_DIR": str(tmp_path / "reports"),
            "X0TTA6BL4_PRODUCTION": "true", "X0T_PQC_ENABLED": "false", **capture(tmp_path)})
    assert result.returncode == 1, result.stderr
    assert checks(result.stderr) == {"switches": "FAIL", "lint": "FAIL", "slo": "FAIL", "capture": "PASS",
                                     "agent": "FAIL"}
    agent_report = json.loads((tmp_path / "reports" / "agent.json").read_text())
    assert agent_report["successes"] == 1
    assert "replayed_init_accepted" in {f["code"] for f in agent_report["findings"]}
