"""The power-on self-test, vector-source discovery, the embedded subset, and import hygiene."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from x0ctl.errors import EnvironmentProblem
from x0ctl.kat import discover_sources, embedded, power_on_self_test

REPO = Path(__file__).resolve().parents[1]
SHARED_VECTORS = REPO.parent / "shared" / "vectors"


def test_power_on_self_test_passes_on_real_backends(backend):
    power_on_self_test(backend)


def flip(entry: dict, field: str, byte: int) -> dict:
    import base64

    value = entry[field]
    data = bytearray(base64.b64decode("".join(value) if isinstance(value, tuple) else value))
    data[byte] ^= 0x01
    return {**entry, field: base64.b64encode(bytes(data)).decode()}


@pytest.mark.parametrize(
    ("vector", "field", "named_check"),
    [
        ("ML_KEM_768", "pk", "ML-KEM-768 key generation from seed"),
        ("ML_KEM_768", "ss", "ML-KEM-768 decapsulation"),
        ("ML_KEM_768", "ss_n", "ML-KEM-768 implicit rejection of a modified ciphertext"),
        ("ML_DSA_65", "pk", "ML-DSA-65 key generation from seed"),
        ("ML_DSA_65", "msg", "ML-DSA-65 verification of a NIST signature"),
    ],
)
def test_power_on_self_test_names_the_failed_check(monkeypatch, openssl_backend, vector, field, named_check):
    from x0ctl.pqc import selftest_vectors

    monkeypatch.setattr(selftest_vectors, vector, flip(getattr(selftest_vectors, vector), field, 3))
    with pytest.raises(EnvironmentProblem) as caught:
        power_on_self_test(openssl_backend)
    message = str(caught.value)
    assert message.startswith("openssl backend failed the power-on self-test: ")
    assert named_check in message and "#count=0" in message
    assert caught.value.exit_code == 3


def test_self_test_vectors_are_the_first_embedded_vectors():
    from x0ctl.pqc import selftest

    kem, sig = selftest._vectors()
    for algorithm, vector in (("ML-KEM-768", kem), ("ML-DSA-65", sig)):
        (first,) = embedded.embedded_entries(algorithm, limit=1)
        assert {key: first[key] for key in vector} == vector


def test_production_guard_runs_the_self_test(monkeypatch):
    from x0ctl.pqc import get_backend, guard

    monkeypatch.setenv("X0TTA6BL4_PRODUCTION", "true")
    monkeypatch.delenv("X0TTA6BL4_ALLOW_MOCK_PQC", raising=False)
    monkeypatch.setattr(guard, "_passed", set())
    assert get_backend("openssl").name == "openssl"
    assert "openssl" in guard._passed


def test_discover_sources_reports_embedded_and_cryptography_vectors():
    embedded_source, full = discover_sources()
    assert embedded_source["name"] == "embedded" and embedded_source["available"] and embedded_source["required"]
    assert embedded_source["vectors"] == {"ML-DSA-44": 4, "ML-DSA-65": 4, "ML-DSA-87": 4, "ML-KEM-1024": 4,
                                          "ML-KEM-512": 4, "ML-KEM-768": 4, "X-Wing": 5}
    assert full["name"] == "cryptography-vectors" and full["required"] is False and full["detail"]
    try:
        import cryptography
        import cryptography_vectors
    except ImportError:
        assert full["available"] is False and "pip install" in full["hint"]
        return
    assert full["available"] and full["version"] == cryptography_vectors.__version__
    assert full["matches_cryptography"] == (cryptography_vectors.__version__ == cryptography.__version__)
    assert all(full["files"].values()) and Path(full["path"]).is_dir()
    json.dumps([embedded_source, full])  # doctor prints it as JSON


def test_embedded_subset_is_compact_and_records_provenance():
    files = list(embedded.DATA_DIR.iterdir())
    assert sum(path.stat().st_size for path in files) < 200_000
    index = json.loads((embedded.DATA_DIR / "index.json").read_text())
    for algorithm, entry in index["algorithms"].items():
        entries = embedded.embedded_entries(algorithm)
        assert [e["id"] for e in entries] == entry["ids"] and len(entries) == entry["count"]
        assert entry["origins"] and all("#" in e["id"] for e in entries)


def test_subset_script_output_is_deterministic_and_up_to_date(tmp_path):
    pytest.importorskip("cryptography_vectors", reason="the script reads cryptography-vectors")
    if not (SHARED_VECTORS / "xwing-test-vectors.json").is_file():
        pytest.skip(f"X-Wing draft vectors not found under {SHARED_VECTORS}")
    script = REPO / "scripts" / "make-kat-subset.py"
    for out in (tmp_path / "a", tmp_path / "b"):
        done = subprocess.run([sys.executable, str(script), "--out", str(out)], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, done.stderr
    first = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    assert first == {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    import cryptography_vectors

    index = json.loads(first["index.json"])
    if index["generated_from"]["cryptography-vectors"] == cryptography_vectors.__version__:
        shipped = {p.name: p.read_bytes() for p in embedded.DATA_DIR.iterdir()}
        assert shipped == first, "x0ctl/kat/data is stale: run scripts/make-kat-subset.py"


def test_importing_x0ctl_kat_is_cheap_and_cli_free():
    code = ("import sys, x0ctl.kat, x0ctl.pqc.selftest;"
            "heavy = [m for m in ('cryptography', 'typer', 'rich', 'oqs', 'x0ctl.kat.formats') if m in sys.modules];"
            "print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_no_cli_libraries_anywhere_in_x0ctl_kat():
    modules = sorted(p.stem for p in (REPO / "x0ctl" / "kat").glob("*.py") if p.stem != "__init__")
    code = (f"import sys, importlib\nfor m in {modules!r}: importlib.import_module('x0ctl.kat.' + m)\n"
            "print([m for m in ('typer', 'rich', 'click') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
