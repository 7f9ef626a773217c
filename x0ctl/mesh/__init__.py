"""The x0tta6bl4 mesh as its public source behaves (not as domain.md designs it): a documented Python API.

Metric names (`metric_names`), the environment switches the mesh reads (`switches`), its signed
control-plane messages (`messages`) and the Go agent's UDP handshake (`agent_udp`). No CLI imports.
See docs/mesh.md.
"""

from __future__ import annotations

from x0ctl.mesh.agent_udp import AgentPin, AgentProbeReport, probe_agent, probe_agent_at
from x0ctl.mesh.keyid import mesh_key_id
from x0ctl.mesh.messages import CaptureReport, MessageReport, Pins, load_pins, verify_capture, verify_capture_file
from x0ctl.mesh.metric_names import METRIC_NAMES, MetricName, equivalent_names, read_any
from x0ctl.mesh.switches import SWITCHES, SwitchFinding, SwitchReport, assess_switches

__all__ = ["METRIC_NAMES", "SWITCHES", "AgentPin", "AgentProbeReport", "CaptureReport", "MessageReport", "MetricName", "Pins", "SwitchFinding",
           "SwitchReport", "assess_switches", "equivalent_names", "load_pins", "mesh_key_id", "read_any",
           "probe_agent", "probe_agent_at", "verify_capture", "verify_capture_file"]
