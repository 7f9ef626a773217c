"""ACVP JSON (internalProjection, prompt + expectedResults) for ML-KEM and ML-DSA.

The vector sets here have the exact ACVP-Server layout (gen-val/json-files) and carry real NIST
known answers - the values of cryptography-vectors' KAT files - so every check that runs is a
real known-answer check. Test groups x0ctl cannot run must show up as skipped, with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from x0ctl.errors import UsageError
from x0ctl.kat import run_kat
from x0ctl.kat.acvp import (
    EXPANDED_DK_REASON,
    EXPANDED_SK_REASON,
    EXTERNAL_MU_REASON,
    HEDGED_SIGGEN_REASON,
    INTERNAL_REASON,
    NO_PK_REASON,
    PREHASH_REASON,
)
from x0ctl.kat.vectors import VectorDataError


def nist_records(relative: str, count: int) -> list[dict[str, str]]:
    try:
        import cryptography_vectors
    except ImportError:
        pytest.skip("cryptography-vectors is not installed (pip install cryptography-vectors)")
    records: list[dict[str, str]] = []
    for line in (Path(cryptography_vectors.__file__).parent / relative).read_text().splitlines():
        key, sep, value = line.partition(" = ")
        if not sep:
            continue
        if key == "count":
            if len(records) == count:
                break
            records.append({})
        records[-1][key] = value.upper()  # ACVP writes hex in upper case
    return records


def kem_records(count: int = 3) -> list[dict[str, str]]:
    return nist_records("asymmetric/MLKEM/kat_MLKEM_768.rsp", count)


def dsa_records(count: int = 3) -> list[dict[str, str]]:
    records = nist_records("asymmetric/MLDSA/kat_MLDSA_65_det_pure.rsp", count)
    for record in records:
        record["sig"] = record["sm"][: 2 * 3309]
    return records


def vector_set(algorithm: str, mode: str, groups: list[dict], revision: str | None = None) -> dict:
    return {"vsId": 42, "algorithm": algorithm, "mode": mode,
            "revision": revision or ("FIPS203" if algorithm == "ML-KEM" else "FIPS204"), "isSample": True,
            "testGroups": groups}


def write(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc, indent=1))
    return path


def split(doc: dict, answer_fields: tuple[str, ...]) -> tuple[dict, dict]:
    """An internalProjection cut into the prompt and expectedResults ACVP-Server publishes."""
    prompt = {**doc, "testGroups": [
        {**group, "tests": [{k: v for k, v in test.items() if k not in answer_fields} for test in group["tests"]]}
        for group in doc["testGroups"]]}
    expected = {**{k: v for k, v in doc.items() if k != "testGroups"}, "testGroups": [
        {"tgId": group["tgId"], "tests": [{"tcId": test["tcId"], **{k: test[k] for k in answer_fields if k in test}}
                                          for test in group["tests"]]}
        for group in doc["testGroups"]]}
    return prompt, expected


def only(report):
    (result,) = report.results
    return result


def mlkem_keygen(records) -> dict:
    return vector_set("ML-KEM", "keyGen", [{"tgId": 1, "testType": "AFT", "parameterSet": "ML-KEM-768", "tests": [
        {"tcId": i + 1, "deferred": False, "z": r["z"], "d": r["d"], "ek": r["pk"], "dk": r["sk"]}
        for i, r in enumerate(records)]}])


# --- ML-KEM --------------------------------------------------------------------------------------


def test_mlkem_keygen_internal_projection(tmp_path, backend):
    path = write(tmp_path / "internalProjection.json", mlkem_keygen(kem_records(3)))
    result = only(run_kat([backend.name], sources="none", vector_paths=[path]))
    assert (result.algorithm, result.source, result.failed) == ("ML-KEM-768", f"file:{path}", 0)
    if backend.name == "liboqs":
        assert (result.passed, result.skipped) == (6, 0)  # ek and the expanded dk
    else:
        assert (result.passed, result.skipped) == (3, 3)
        assert result.skip_reasons == {"ML-KEM-768 expanded private key is not exposed by this backend": 3}


def test_mlkem_keygen_wrong_ek_fails_with_the_test_case_id(tmp_path, openssl_backend):
    doc = mlkem_keygen(kem_records(3))
    ek = doc["testGroups"][0]["tests"][1]["ek"]
    doc["testGroups"][0]["tests"][1]["ek"] = ("00" if ek[:2] != "00" else "01") + ek[2:]
    path = write(tmp_path / "keygen.json", doc)
    report = run_kat(["openssl"], sources="none", vector_paths=[path])
    assert not report.ok
    (failure,) = only(report).failures
    assert (failure.vector_id, failure.check) == ("keygen.json#tgId=1/tcId=2", "keygen-pk")
    assert "first difference at byte 0 of 1184" in failure.detail


@pytest.mark.parametrize("layout", ["sibling-names", "acvp-server-folder", "same-vector-set", "acvts-wrapped"])
def test_mlkem_keygen_prompt_with_expected_results(tmp_path, openssl_backend, layout):
    prompt, expected = split(mlkem_keygen(kem_records(2)), ("ek", "dk"))
    if layout == "sibling-names":
        paths = [write(tmp_path / "ML-KEM-keyGen_prompt.json", prompt)]
        write(tmp_path / "ML-KEM-keyGen_expectedResults.json", expected)
    elif layout == "acvp-server-folder":
        write(tmp_path / "prompt.json", prompt)
        write(tmp_path / "expectedResults.json", expected)
        paths = [tmp_path]
    elif layout == "same-vector-set":
        paths = [write(tmp_path / "a.json", prompt), write(tmp_path / "b.json", expected)]
    else:
        paths = [write(tmp_path / "prompt.json", [{"acvVersion": "1.0"}, prompt])]
        write(tmp_path / "expectedResults.json", [{"acvVersion": "1.0"}, expected])
    report = run_kat(["openssl"], sources="none", vector_paths=paths)
    result = only(report)
    assert (result.passed, result.failed, result.skipped) == (2, 0, 2)
    assert report.sources[0]["acvp"]["files"] == "prompt+expectedResults"


def test_expected_results_alone_finds_its_prompt(tmp_path, openssl_backend):
    prompt, expected = split(mlkem_keygen(kem_records(2)), ("ek", "dk"))
    write(tmp_path / "prompt.json", prompt)
    path = write(tmp_path / "expectedResults.json", expected)
    assert only(run_kat(["openssl"], sources="none", vector_paths=[path])).passed == 2


def test_prompt_without_answers_is_a_usage_error(tmp_path):
    prompt, _ = split(mlkem_keygen(kem_records(1)), ("ek", "dk"))
    path = write(tmp_path / "prompt.json", prompt)
    with pytest.raises(UsageError, match="ACVP prompt without answers"):
        run_kat(["openssl"], sources="none", vector_paths=[path])


def test_expected_results_without_prompt_is_a_usage_error(tmp_path):
    _, expected = split(mlkem_keygen(kem_records(1)), ("ek", "dk"))
    path = write(tmp_path / "expectedResults.json", expected)
    with pytest.raises(UsageError, match="holds only ACVP expected results"):
        run_kat(["openssl"], sources="none", vector_paths=[path])


def test_expected_results_missing_a_test_case_is_a_usage_error(tmp_path):
    prompt, expected = split(mlkem_keygen(kem_records(2)), ("ek", "dk"))
    expected["testGroups"][0]["tests"].pop()
    write(tmp_path / "prompt.json", prompt)
    write(tmp_path / "expectedResults.json", expected)
    with pytest.raises(VectorDataError, match="no expected result for tcId 2"):
        run_kat(["openssl"], sources="none", vector_paths=[tmp_path / "prompt.json"])


def invalid_modulus(ek_hex: str) -> str:
    """An encapsulation key whose first coefficient is 4095 >= q: FIPS 203's check must reject it."""
    ek = bytearray.fromhex(ek_hex)
    ek[0], ek[1] = 0xFF, ek[1] | 0x0F
    return ek.hex().upper()


def mlkem_encap_decap(records) -> dict:
    r0, r1 = records[0], records[1]
    groups = [
        {"tgId": 1, "testType": "AFT", "parameterSet": "ML-KEM-768", "function": "encapsulation", "tests": [
            {"tcId": i + 1, "ek": r["pk"], "dk": r["sk"], "m": r["msg"], "c": r["ct"], "k": r["ss"]}
            for i, r in enumerate(records)]},
        {"tgId": 2, "testType": "VAL", "parameterSet": "ML-KEM-768", "function": "decapsulation", "tests": [
            {"tcId": 10, "dk": r0["sk"], "c": r0["ct"], "k": r0["ss"], "reason": "valid decapsulation"}]},
        {"tgId": 3, "testType": "VAL", "parameterSet": "ML-KEM-768", "function": "decapsulation", "keyFormat": "seed",
         "tests": [{"tcId": 20, "d": r0["d"], "z": r0["z"], "c": r0["ct"], "k": r0["ss"]},
                   {"tcId": 21, "d": r1["d"], "z": r1["z"], "c": r1["ct_n"], "k": r1["ss_n"],
                    "reason": "modified ciphertext"}]},
        {"tgId": 4, "testType": "VAL", "parameterSet": "ML-KEM-768", "function": "encapsulationKeyCheck", "tests": [
            {"tcId": 30, "ek": r0["pk"], "testPassed": True},
            {"tcId": 31, "ek": invalid_modulus(r1["pk"]), "testPassed": False},
            {"tcId": 32, "ek": r0["pk"] + "00", "testPassed": False}]},
        {"tgId": 5, "testType": "VAL", "parameterSet": "ML-KEM-768", "function": "decapsulationKeyCheck", "tests": [
            {"tcId": 40, "dk": r0["sk"], "testPassed": True}]},
    ]
    return vector_set("ML-KEM", "encapDecap", groups, revision="FIPS203-tr1")


def test_mlkem_encap_decap_every_function(tmp_path, backend):
    path = write(tmp_path / "internalProjection.json", mlkem_encap_decap(kem_records(3)))
    result = only(run_kat([backend.name], sources="none", vector_paths=[path]))
    assert result.failed == 0, result.failures
    expected_skips = {EXPANDED_DK_REASON: 2}  # decapsulation with an expanded dk, decapsulationKeyCheck
    if backend.name == "liboqs":
        passed = 3 + 2 + 3  # encapsulation, seed-format decapsulation, key checks
    else:
        passed = 2 + 3
        expected_skips["deterministic ML-KEM-768 encapsulation is not offered by this backend"] = 3
    assert (result.passed, result.skipped, result.skip_reasons) == (passed, sum(expected_skips.values()), expected_skips)


def test_mlkem_key_check_with_a_wrong_verdict_fails(tmp_path, openssl_backend):
    doc = mlkem_encap_decap(kem_records(2))
    doc["testGroups"][3]["tests"][1]["testPassed"] = True  # claims the out-of-range key is valid
    path = write(tmp_path / "internalProjection.json", doc)
    (failure,) = only(run_kat(["openssl"], sources="none", vector_paths=[path])).failures
    assert failure.vector_id == "internalProjection.json#tgId=4/tcId=31"
    assert failure.check == "ek-check" and failure.detail.startswith("rejected a valid encapsulation key")


# --- ML-DSA --------------------------------------------------------------------------------------


def test_mldsa_keygen(tmp_path, backend):
    doc = vector_set("ML-DSA", "keyGen", [{"tgId": 1, "testType": "AFT", "parameterSet": "ML-DSA-65", "tests": [
        {"tcId": i + 1, "seed": r["xi"], "pk": r["pk"], "sk": r["sk"]} for i, r in enumerate(dsa_records(2))]}])
    result = only(run_kat([backend.name], sources="none", vector_paths=[write(tmp_path / "keygen.json", doc)]))
    assert result.failed == 0
    assert (result.passed, result.skipped) == ((4, 0) if backend.name == "liboqs" else (2, 2))


def tampered(hex_value: str) -> str:
    data = bytearray.fromhex(hex_value)
    data[len(data) // 2] ^= 0x40
    return data.hex().upper()


def pure_message(record: dict) -> str:
    """The internal-interface M' of pure ML-DSA: 0x00 || len(ctx) || ctx || M."""
    ctx = bytes.fromhex(record["ctx"])
    return (bytes([0, len(ctx)]) + ctx + bytes.fromhex(record["msg"])).hex().upper()


def mldsa_sigver(records) -> dict:
    r0, r1, r2 = records
    external = [{"tcId": 1, "pk": r0["pk"], "message": r0["msg"], "context": r0["ctx"], "signature": r0["sig"],
                 "testPassed": True},
                {"tcId": 2, "pk": r1["pk"], "message": tampered(r1["msg"]), "context": r1["ctx"],
                 "signature": r1["sig"], "testPassed": False, "reason": "modified message"},
                {"tcId": 3, "pk": r2["pk"], "message": r2["msg"], "context": r2["ctx"],
                 "signature": tampered(r2["sig"]), "testPassed": False, "reason": "modified signature - z"}]
    return vector_set("ML-DSA", "sigVer", [
        {"tgId": 1, "testType": "AFT", "parameterSet": "ML-DSA-65", "signatureInterface": "external",
         "preHash": "pure", "tests": external},
        {"tgId": 2, "testType": "AFT", "parameterSet": "ML-DSA-65", "signatureInterface": "external",
         "preHash": "preHash", "tests": [{"tcId": 10, "pk": r0["pk"], "message": r0["msg"], "context": "",
                                          "hashAlg": "SHA2-512", "signature": r0["sig"], "testPassed": False}]},
        {"tgId": 3, "testType": "AFT", "parameterSet": "ML-DSA-65", "signatureInterface": "internal",
         "externalMu": True, "tests": [{"tcId": 20, "pk": r0["pk"], "mu": "00" * 64, "signature": r0["sig"],
                                        "testPassed": False}]},
        {"tgId": 4, "testType": "AFT", "parameterSet": "ML-DSA-65", "signatureInterface": "internal",
         "externalMu": False, "tests": [
             {"tcId": 30, "pk": r0["pk"], "message": pure_message(r0), "signature": r0["sig"], "testPassed": True},
             {"tcId": 31, "pk": r1["pk"], "message": "01" + pure_message(r1)[2:], "signature": r1["sig"],
              "testPassed": False}]},
        # A vector set from before the FIPS 204 interfaces: pk at group level, M' signed as given.
        {"tgId": 5, "testType": "AFT", "parameterSet": "ML-DSA-65", "pk": r0["pk"], "tests": [
            {"tcId": 40, "message": pure_message(r0), "signature": r0["sig"], "testPassed": True}]},
    ])


def test_mldsa_sigver_interfaces(tmp_path, backend):
    path = write(tmp_path / "internalProjection.json", mldsa_sigver(dsa_records(3)))
    result = only(run_kat([backend.name], sources="none", vector_paths=[path]))
    assert result.failed == 0, result.failures
    # external pure 3 + internal in pure form 1 + pre-interface group in pure form 1
    assert result.passed == 5
    assert result.skip_reasons == {PREHASH_REASON: 1, EXTERNAL_MU_REASON: 1, INTERNAL_REASON: 1}


def test_mldsa_sigver_expecting_a_tampered_signature_to_pass_fails(tmp_path, openssl_backend):
    doc = mldsa_sigver(dsa_records(3))
    doc["testGroups"][0]["tests"][2]["testPassed"] = True
    (failure,) = only(run_kat(["openssl"], sources="none",
                              vector_paths=[write(tmp_path / "sigver.json", doc)])).failures
    assert (failure.vector_id, failure.check) == ("sigver.json#tgId=1/tcId=3", "verify")
    assert failure.detail == "a valid signature was rejected"


def test_mldsa_siggen_verifies_the_expected_signature_and_skips_reproduction(tmp_path, backend):
    r0, r1 = dsa_records(2)
    doc = vector_set("ML-DSA", "sigGen", [
        {"tgId": 1, "testType": "AFT", "parameterSet": "ML-DSA-65", "deterministic": True,
         "signatureInterface": "external", "preHash": "pure", "tests": [
             {"tcId": 1, "pk": r0["pk"], "sk": r0["sk"], "message": r0["msg"], "context": r0["ctx"],
              "signature": r0["sig"]}]},
        {"tgId": 2, "testType": "AFT", "parameterSet": "ML-DSA-65", "deterministic": False,
         "signatureInterface": "external", "preHash": "pure", "tests": [
             {"tcId": 2, "pk": r1["pk"], "sk": r1["sk"], "message": r1["msg"], "context": r1["ctx"],
              "rnd": "11" * 32, "signature": r1["sig"]}]},
    ])
    result = only(run_kat([backend.name], sources="none", vector_paths=[write(tmp_path / "siggen.json", doc)]))
    assert (result.passed, result.failed) == (2, 0)
    assert result.skip_reasons == {EXPANDED_SK_REASON: 1, HEDGED_SIGGEN_REASON: 1}

    prompt, expected = split(doc, ("signature",))  # prompts carry no pk: nothing can verify
    for group in prompt["testGroups"]:
        for test in group["tests"]:
            del test["pk"]
    write(tmp_path / "prompt.json", prompt)
    write(tmp_path / "expectedResults.json", expected)
    result = only(run_kat([backend.name], sources="none", vector_paths=[tmp_path / "prompt.json"]))
    assert (result.passed, result.failed, result.skip_reasons[NO_PK_REASON]) == (0, 0, 2)


# --- what x0ctl refuses ----------------------------------------------------------------------------


def test_unsupported_acvp_algorithm_is_a_usage_error(tmp_path):
    path = write(tmp_path / "slh.json", vector_set("SLH-DSA", "sigVer", [
        {"tgId": 1, "testType": "AFT", "parameterSet": "SLH-DSA-SHA2-128s", "tests": [{"tcId": 1, "testPassed": True}]}]))
    with pytest.raises(UsageError, match=r"slh\.json: ACVP SLH-DSA sigVer is not supported"):
        run_kat(["openssl"], sources="none", vector_paths=[path])


def test_unknown_parameter_set_is_a_usage_error(tmp_path):
    doc = mlkem_keygen(kem_records(1))
    doc["testGroups"][0]["parameterSet"] = "ML-KEM-2048"
    with pytest.raises(VectorDataError, match="unknown parameterSet 'ML-KEM-2048'"):
        run_kat(["openssl"], sources="none", vector_paths=[write(tmp_path / "x.json", doc)])


def test_bad_hex_in_an_acvp_field_names_the_test_case(tmp_path):
    doc = mlkem_keygen(kem_records(1))
    doc["testGroups"][0]["tests"][0]["ek"] = "ZZ" + doc["testGroups"][0]["tests"][0]["ek"][2:]
    with pytest.raises(UsageError, match=r"vector x\.json#tgId=1/tcId=1: field 'public_key' is not valid hex"):
        run_kat(["openssl"], sources="none", vector_paths=[write(tmp_path / "x.json", doc)])
