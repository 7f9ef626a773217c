"""Hostile input to the mesh interop parsers: agent frames, captured lines, PromQL. Each fails cleanly or not at all."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from x0ctl.errors import UsageError
from x0ctl.mesh.agent_udp import INIT, RESPONSE, FrameError, decode_frame, encode_frame
from x0ctl.mesh.messages import verify_capture
from x0ctl.slo.lint import expand_grafana, selectors

FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def sig_scheme():
    from x0ctl.pqc import get_backend

    return get_backend("openssl").sig("ML-DSA-65")


@FUZZ
@given(st.binary(max_size=8000), st.sampled_from([INIT, RESPONSE]))
def test_any_datagram_decodes_or_raises_frame_error(datagram, kind):
    try:
        frame = decode_frame(datagram, kind)
    except FrameError:
        return
    assert encode_frame(kind, frame.node_id, frame.payload, frame.public_key, frame.signature) == \
        datagram[:len(encode_frame(kind, frame.node_id, frame.payload, frame.public_key, frame.signature))]


@FUZZ
@given(st.binary(min_size=0, max_size=300), st.integers(0, 0xFFFF))
def test_a_lying_length_prefix_is_a_frame_error(node_id, claimed):
    datagram = bytes([INIT]) + claimed.to_bytes(2, "big") + node_id
    with pytest.raises(FrameError):
        decode_frame(datagram, INIT)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                      max_size=4), max_leaves=20)


@FUZZ
@given(st.lists(st.one_of(st.text(max_size=200), json_values.map(json.dumps),
                          st.dictionaries(st.sampled_from(["type", "sender", "timestamp", "nonce", "epoch", "payload",
                                                           "signature", "public_key", "node_id", "neighbors",
                                                           "received_at"]), json_values).map(json.dumps)),
                min_size=1, max_size=6),
       st.sampled_from(["mesh-gossip", "mesh-beacon"]))
def test_any_capture_is_reported_line_by_line(sig_scheme, lines, fmt):
    text = "\n".join(line.replace("\n", " ").replace("\r", " ") for line in lines)
    try:
        report = verify_capture(text, fmt, sig_scheme=sig_scheme)
    except UsageError:
        assert not text.strip()  # only an empty capture is refused as a whole
        return
    assert all(m.signature in ("malformed", "invalid") for m in report.messages)
    assert not report.ok
    json.dumps(report.to_dict())


@FUZZ
@given(st.text(max_size=300))
def test_any_promql_text_gives_selectors_or_a_usage_error(text):
    try:
        found = selectors(expand_grafana(text))
    except UsageError:
        return
    for selector in found:
        assert selector.promql()
