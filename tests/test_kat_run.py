"""run_kat end to end on the real backends: counts, skips, failures on corrupted vectors, the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from x0ctl.errors import UsageError
from x0ctl.kat import ALGORITHMS, run_kat
from x0ctl.kat.report import SCHEMA

RESULT_KEYS = {"algorithm", "backend", "source", "passed", "failed", "skipped", "skip_reasons", "seconds",
               "failures", "failures_omitted"}
TOP_KEYS = {"schema", "ok", "passed", "failed", "skipped", "empty_sources", "allow_empty", "seconds", "backends",
            "sources", "ignored", "results"}
OPENSSL_KEM_SKIPS = ("pyca/cryptography does not export the ML-KEM-768 expanded dk",
                     "pyca/cryptography offers no ML-KEM-768 encapsulation with caller-supplied m")


def cryptography_vectors_root() -> Path:
    try:
        import cryptography_vectors
    except ImportError:
        pytest.skip("cryptography-vectors is not installed (pip install cryptography-vectors)")
    return Path(cryptography_vectors.__file__).parent


def rsp_copy(tmp_path: Path, relative: str, records: int, name: str | None = None) -> Path:
    """The first `records` records of a cryptography-vectors KAT file, in a temp file we may damage."""
    source = cryptography_vectors_root() / relative
    lines, seen = [], 0
    for line in source.read_text().splitlines():
        if line.startswith("count = "):
            seen += 1
            if seen > records:
                break
        lines.append(line)
    path = tmp_path / (name or source.name)
    path.write_text("\n".join(lines) + "\n")
    return path


def flip_hex_byte(path: Path, field: str, count: int, byte_index: int = 0) -> None:
    """Flip one byte of `field` in record `count` of an .rsp file, keeping it valid hex."""
    lines = path.read_text().splitlines()
    current = None
    for i, line in enumerate(lines):
        key, _, value = line.partition(" = ")
        if key == "count":
            current = int(value)
        elif key == field and current == count:
            data = bytearray.fromhex(value)
            data[byte_index] ^= 0x01
            lines[i] = f"{key} = {data.hex()}"
            break
    else:
        raise AssertionError(f"no {field} in record {count}")
    path.write_text("\n".join(lines) + "\n")


def by_key(report) -> dict:
    return {(r.source, r.algorithm, r.backend): r for r in report.results}


def test_embedded_subset_on_openssl_counts_skips_not_passes():
    report = run_kat(["openssl"], sources="embedded")
    assert report.ok
    results = by_key(report)
    assert [r.algorithm for r in report.results] == list(ALGORITHMS)
    # pyca/cryptography has no ML-KEM-512: every one of its checks is skipped, none passed.
    absent = results[("embedded", "ML-KEM-512", "openssl")]
    assert (absent.passed, absent.skipped) == (0, 4 * 5)
    assert absent.skip_reasons == {"ML-KEM-512 is not offered by the openssl backend": 20}
    # 4 vectors x 5 checks: pk, decaps and implicit rejection pass; sk and deterministic encaps are skipped.
    kem = results[("embedded", "ML-KEM-768", "openssl")]
    assert (kem.passed, kem.failed, kem.skipped) == (12, 0, 8)
    assert sorted(kem.skip_reasons.values()) == [4, 4]
    assert set(kem.skip_reasons) == set(OPENSSL_KEM_SKIPS)
    sig = results[("embedded", "ML-DSA-65", "openssl")]
    assert (sig.passed, sig.skipped) == (4 * 4, 4 * 2)
    assert sig.skip_reasons == {"pyca/cryptography does not export the ML-DSA-65 expanded sk": 4,
                                "pyca/cryptography signs ML-DSA-65 only hedged (no rnd = 0)": 4}
    xwing = results[("embedded", "X-Wing", "openssl")]
    assert (xwing.passed, xwing.skipped) == (10, 5)


def test_embedded_subset_on_liboqs_runs_every_check(liboqs_backend):
    report = run_kat(["liboqs"], sources="embedded")
    assert report.ok and report.total_skipped == 0
    assert report.total_passed == 3 * 4 * 5 + 3 * 4 * 6 + 5 * 3
    assert report.backends["liboqs"].startswith("liboqs ")


def test_two_backends_one_result_each_and_duplicates_collapse(liboqs_backend):
    report = run_kat(["openssl", "liboqs", "openssl"], algorithms=["ML-KEM-768"], sources="embedded")
    assert [(r.algorithm, r.backend) for r in report.results] == [("ML-KEM-768", "openssl"), ("ML-KEM-768", "liboqs")]


@pytest.mark.parametrize("algorithm", ["ML-KEM-1024", "ML-DSA-44", "X-Wing"])
def test_full_cryptography_vectors_pass(backend, algorithm):
    cryptography_vectors_root()
    report = run_kat([backend.name], algorithms=[algorithm], sources="cryptography-vectors")
    (result,) = report.results
    assert result.source == "cryptography-vectors" and result.failed == 0, result.failures[:3]
    expected_checks = {"ML-KEM-1024": 1000 * 5 + 2 * 3, "ML-DSA-44": 100 * 6, "X-Wing": 2 * 3}[algorithm]
    assert result.passed + result.skipped == expected_checks
    if backend.name == "liboqs":
        assert result.skipped == 0
    assert report.sources[0]["version"] == report.sources[0]["cryptography_version"]


def test_auto_runs_embedded_and_full_files_as_separate_sources():
    cryptography_vectors_root()
    report = run_kat(["openssl"], algorithms=["ml-dsa-87"])  # any case
    assert [(r.source, r.algorithm) for r in report.results] == [("embedded", "ML-DSA-87"),
                                                                 ("cryptography-vectors", "ML-DSA-87")]
    assert [r.passed for r in report.results] == [16, 400]


@pytest.mark.parametrize(
    ("relative", "field", "check"),
    [
        ("asymmetric/MLKEM/kat_MLKEM_768.rsp", "pk", "keygen-pk"),
        ("asymmetric/MLKEM/kat_MLKEM_768.rsp", "ss", "decaps-ss"),
        ("asymmetric/MLKEM/kat_MLKEM_768.rsp", "ss_n", "decaps-implicit-rejection"),
        ("asymmetric/MLDSA/kat_MLDSA_65_det_pure.rsp", "pk", "keygen-pk"),
    ],
)
def test_corrupted_rsp_vector_fails_with_its_id(tmp_path, backend, relative, field, check):
    path = rsp_copy(tmp_path, relative, 3)
    flip_hex_byte(path, field, count=1, byte_index=5)
    report = run_kat([backend.name], sources="none", vector_paths=[path])
    assert not report.ok
    (result,) = report.results
    failures = {(f.vector_id, f.check) for f in result.failures}
    assert (f"{path.name}#count=1", check) in failures
    assert all(f.vector_id == f"{path.name}#count=1" for f in result.failures)  # the other records still pass
    detail = next(f.detail for f in result.failures if f.check == check)
    assert "first difference at byte 5" in detail and "sha3-256 expected" in detail
    assert len(detail) < 300  # a summary, never the data


def test_corrupted_signature_fails_verify_and_is_still_rejected(tmp_path, backend):
    path = rsp_copy(tmp_path, "asymmetric/MLDSA/kat_MLDSA_44_det_pure.rsp", 2)
    flip_hex_byte(path, "sm", count=0, byte_index=100)  # inside the signature part of sm
    report = run_kat([backend.name], sources="none", vector_paths=[path])
    (result,) = report.results
    checks = sorted(f.check for f in result.failures)
    # verify rejects it; deterministic signing (liboqs) no longer matches the file's signature.
    assert checks == (["sign-deterministic", "verify"] if backend.name == "liboqs" else ["verify"])
    assert result.failures[0].vector_id == "kat_MLDSA_44_det_pure.rsp#count=0"


def test_corrupted_xwing_vector_fails(tmp_path, backend, xwing_vectors):
    damaged = [dict(v) for v in xwing_vectors]
    ss = bytearray.fromhex(damaged[2]["ss"])
    ss[31] ^= 0x80
    damaged[2]["ss"] = ss.hex()
    path = tmp_path / "xwing.json"
    path.write_text(json.dumps(damaged))
    (result,) = run_kat([backend.name], sources="none", vector_paths=[path]).results
    failed = sorted(f.check for f in result.failures)
    assert failed == (["decaps-ss", "encaps-deterministic"] if backend.name == "liboqs" else ["decaps-ss"])
    assert {f.vector_id for f in result.failures} == {"xwing.json#2"}


def test_xwing_draft_vectors_pass(backend, xwing_vectors, tmp_path):
    path = tmp_path / "test-vectors.json"
    path.write_text(json.dumps(xwing_vectors))
    (result,) = run_kat([backend.name], sources="none", vector_paths=[path]).results
    assert result.failed == 0
    # keygen-pk, keygen-sk (the draft's sk is the seed), decaps-ss; encaps-deterministic on liboqs
    assert (result.passed, result.skipped) == ((12, 0) if backend.name == "liboqs" else (9, 3))


def test_xwing_vector_whose_sk_is_not_its_seed_fails_keygen_sk(tmp_path, xwing_vectors, openssl_backend):
    damaged = [dict(vector) for vector in xwing_vectors]
    damaged[1]["sk"] = "00" + damaged[1]["sk"][2:] if damaged[1]["sk"][:2] != "00" else "01" + damaged[1]["sk"][2:]
    path = tmp_path / "xwing.json"
    path.write_text(json.dumps(damaged))
    (result,) = run_kat(["openssl"], sources="none", vector_paths=[path]).results
    (failure,) = result.failures
    assert (failure.vector_id, failure.check) == ("xwing.json#1", "keygen-sk")


def test_failures_are_capped_but_counted(tmp_path, openssl_backend):
    path = rsp_copy(tmp_path, "asymmetric/MLKEM/kat_MLKEM_768.rsp", 120)
    text = path.read_text()
    # Every shared secret wrong: 120 failures, the report lists 100 and counts the rest.
    lines = [f"ss = {'00' * 32}" if line.startswith("ss = ") else line for line in text.splitlines()]
    path.write_text("\n".join(lines) + "\n")
    (result,) = run_kat(["openssl"], sources="none", vector_paths=[path]).results
    assert result.failed == 120 and len(result.failures) == 100 and result.failures_omitted == 20
    assert result.to_dict()["failures_omitted"] == 20


def test_unknown_algorithm_lists_the_known_ones():
    with pytest.raises(UsageError) as caught:
        run_kat(["openssl"], algorithms=["ML-KEM-768", "Kyber768"])
    assert "'Kyber768'" in str(caught.value)
    assert all(name in str(caught.value) for name in ALGORITHMS)


def test_unknown_source_and_no_source_are_usage_errors():
    with pytest.raises(UsageError, match="unknown vector source 'nist'"):
        run_kat(["openssl"], sources="nist")
    with pytest.raises(UsageError, match="no vector source selected"):
        run_kat(["openssl"], sources="none")
    with pytest.raises(UsageError, match="no backend selected"):
        run_kat([], sources="embedded")


def test_unknown_backend_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown backend 'bouncycastle'"):
        run_kat(["bouncycastle"], sources="embedded")


def test_bad_hex_stops_the_run_with_the_vector_named(tmp_path):
    path = rsp_copy(tmp_path, "asymmetric/MLKEM/kat_MLKEM_768.rsp", 2)
    lines = path.read_text().splitlines()
    first_ss = next(i for i, line in enumerate(lines) if line.startswith("ss = "))
    lines[first_ss] = "ss = zz" + lines[first_ss][7:]  # right length, not hex
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UsageError, match=r"kat_MLKEM_768\.rsp: record count=0: ss is not valid hex"):
        run_kat(["openssl"], sources="none", vector_paths=[path])


def test_report_schema_is_stable_and_json_serialisable(tmp_path):
    path = rsp_copy(tmp_path, "asymmetric/MLKEM/kat_MLKEM_1024.rsp", 2)
    flip_hex_byte(path, "ss", count=0)
    data = json.loads(json.dumps(run_kat(["openssl"], algorithms=["ML-KEM-1024"], sources="embedded",
                                         vector_paths=[path]).to_dict()))
    assert set(data) == TOP_KEYS and data["schema"] == SCHEMA
    assert data["ok"] is False and data["failed"] == 1
    assert data["passed"] == sum(r["passed"] for r in data["results"])
    assert data["skipped"] == sum(r["skipped"] for r in data["results"])
    for result in data["results"]:
        assert set(result) == RESULT_KEYS
        assert result["passed"] + result["failed"] + result["skipped"] > 0
    assert [r["source"] for r in data["results"]] == ["embedded", f"file:{path}"]
    (failure,) = data["results"][1]["failures"]
    assert set(failure) == {"vector_id", "check", "detail"}
    assert failure["vector_id"] == "kat_MLKEM_1024.rsp#count=0" and failure["check"] == "decaps-ss"
    assert data["sources"][1] == {"name": f"file:{path}", "path": str(path), "format": "nist-rsp"}


def test_progress_is_monotonic_and_ends_at_the_total():
    calls = []
    report = run_kat(["openssl"], sources="embedded", progress=lambda done, total: calls.append((done, total)))
    totals = {total for _, total in calls}
    assert totals == {29} and calls[0] == (0, 29) and calls[-1] == (29, 29)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert len(report.results) == len(ALGORITHMS)


def test_truncated_rsp_is_a_file_error_not_a_backend_failure(tmp_path, cli):
    path = rsp_copy(tmp_path, "asymmetric/MLDSA/kat_MLDSA_44_det_pure.rsp", 2)
    text = path.read_text()
    # Cut inside the last record's ctx, at an even number of hex digits: still hex, but a shorter
    # context, which would make a verification fail if the file were taken at its word.
    path.write_text(text[: text.rindex("ctx = ") + 6 + 8])
    result = cli("verify", "kat", "--vectors", str(path), "-a", "ML-DSA-44")
    assert result.exit_code == 2, result.stdout
    assert "ends without a line break: the file is truncated" in result.stderr


def test_a_run_that_verifies_nothing_exits_5_unless_allowed(cli):
    # pyca/cryptography has no ML-KEM-512: every check is skipped.
    data = cli.json("verify", "kat", "--backend", "openssl", "-a", "ML-KEM-512", expect=5)
    assert data["ok"] is False and data["passed"] == 0 and data["skipped"] > 0
    assert "embedded" in data["empty_sources"]
    result = cli("verify", "kat", "--backend", "openssl", "-a", "ML-KEM-512")
    assert result.exit_code == 5
    assert "x0ctl: error: nothing verified from embedded" in result.stderr
    assert "ML-KEM-512 is not offered by the openssl backend" in result.stderr
    allowed = cli.json("verify", "kat", "--backend", "openssl", "-a", "ML-KEM-512", "--allow-empty")
    assert allowed["ok"] is True and allowed["allow_empty"] is True


def test_a_vector_file_of_which_nothing_ran_exits_5_even_when_the_subset_passed(tmp_path, cli):
    path = rsp_copy(tmp_path, "asymmetric/MLKEM/kat_MLKEM_512.rsp", 1)
    data = cli.json("verify", "kat", "--backend", "openssl", "--vectors", str(path), expect=5)
    assert data["passed"] > 0 and data["empty_sources"] == [f"file:{path}"]


def test_flipped_acvp_verdict_exits_1(tmp_path, cli):
    from tests.test_kat_acvp import dsa_records, mldsa_sigver, write

    doc = mldsa_sigver(dsa_records(3))
    doc["testGroups"][3]["tests"][2]["testPassed"] = False  # an internal-interface M', verified through mu
    path = write(tmp_path / "sigver.json", doc)
    data = cli.json("verify", "kat", "--backend", "openssl", "--vectors", str(path), "-a", "ML-DSA-65", expect=1)
    (failed,) = [r for r in data["results"] if r["failed"]]
    assert failed["failures"][0]["vector_id"] == "sigver.json#tgId=4/tcId=32"


@pytest.mark.parametrize("rnd", ["00" * 32, "11" * 32])
def test_hedged_rsp_signs_with_the_records_rnd(tmp_path, backend, rnd):
    # FIPS 204: deterministic signing is signing with rnd = 0^32, so NIST's deterministic record
    # with `rnd = 00..00` added is a hedged known answer; any other rnd must not reproduce it.
    path = rsp_copy(tmp_path, "asymmetric/MLDSA/kat_MLDSA_44_det_pure.rsp", 1)
    path.write_text(path.read_text() + f"rnd = {rnd}\n")
    (result,) = run_kat([backend.name], sources="none", vector_paths=[path]).results
    if backend.name == "openssl":
        assert result.skip_reasons["pyca/cryptography signs ML-DSA-44 only with its own randomness "
                                   "(no caller-supplied rnd)"] == 1
        assert result.failed == 0
    elif rnd == "00" * 32:
        assert (result.failed, result.skipped) == (0, 0)
    else:
        assert [(f.check, f.vector_id) for f in result.failures] == [("sign-hedged", "kat_MLDSA_44_det_pure.rsp#count=0")]


@pytest.mark.parametrize("mutate", [False, True])
def test_xwing_vector_with_a_low_order_ciphertext_half(tmp_path, backend, xwing_vectors, mutate):
    from tests.test_pqc_backends import LOW_ORDER_U, draft_decapsulate

    vector = dict(xwing_vectors[0])
    vector.pop("eseed")  # this ciphertext was not made by encapsulation
    ciphertext = bytes.fromhex(vector["ct"])[:1088] + LOW_ORDER_U["one"]
    secret = bytearray(draft_decapsulate(bytes.fromhex(vector["seed"]), ciphertext, bytes(32)))
    if mutate:
        secret[0] ^= 0x01
    vector.update(ct=ciphertext.hex(), ss=secret.hex())
    path = tmp_path / "low-order.json"
    path.write_text(json.dumps([vector]))
    (result,) = run_kat([backend.name], sources="none", vector_paths=[path]).results
    assert result.passed == 2 + (not mutate)  # keygen-pk, keygen-sk, decaps-ss
    assert [f.check for f in result.failures] == (["decaps-ss"] if mutate else [])
    if mutate:
        assert result.failures[0].detail.startswith("shared secret: first difference at byte 0")
