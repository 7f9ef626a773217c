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
from x0ctl.kat.acvp import NO_PK_REASON, SIGN_FORM_REASON
from x0ctl.kat.vectors import VectorDataError

OPENSSL_NO_EXPANDED_DK = "pyca/cryptography loads ML-KEM-768 private keys only from a seed, not an expanded dk"
OPENSSL_NO_DET_ENCAPS = "pyca/cryptography offers no ML-KEM-768 encapsulation with caller-supplied m"
OPENSSL_NO_EXPANDED_SK = "pyca/cryptography loads ML-DSA-65 private keys only from a seed, not an expanded sk"
LIBOQS_NO_MU = ("liboqs' API verifies ML-DSA-65 only over a message and context (no external mu, internal "
                "interface or HashML-DSA)")


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


def test_mlkem_keygen_internal_projection(tmp_path, backend):
    path = write(tmp_path / "internalProjection.json", mlkem_keygen(kem_records(3)))
    result = only(run_kat([backend.name], sources="none", vector_paths=[path]))
    assert (result.algorithm, result.source, result.failed) == ("ML-KEM-768", f"file:{path}", 0)
    if backend.name == "liboqs":
        assert (result.passed, result.skipped) == (6, 0)  # ek and the expanded dk
    else:
        assert (result.passed, result.skipped) == (3, 3)
        assert result.skip_reasons == {"pyca/cryptography does not export the ML-KEM-768 expanded dk": 3}


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


def wrong_hash(dk_hex: str) -> str:
    """A decapsulation key whose H(ek) (bytes 768k+32 .. 768k+64, k = 3) no longer matches its ek."""
    dk = bytearray.fromhex(dk_hex)
    dk[768 * 3 + 32 + 5] ^= 0x01
    return dk.hex().upper()


def mlkem_encap_decap(records) -> dict:
    r0, r1 = records[0], records[1]
    groups = [
        {"tgId": 1, "testType": "AFT", "parameterSet": "ML-KEM-768", "function": "encapsulation", "tests": [
            {"tcId": i + 1, "ek": r["pk"], "dk": r["sk"], "m": r["msg"], "c": r["ct"], "k": r["ss"]}
            for i, r in enumerate(records)]},
        {"tgId": 2, "testType": "VAL", "parameterSet": "ML-KEM-768", "function": "decapsulation", "tests": [
            {"tcId": 10, "dk": r0["sk"], "c": r0["ct"], "k": r0["ss"], "reason": "valid decapsulation"},
            {"tcId": 11, "dk": r1["sk"], "c": r1["ct_n"], "k": r1["ss_n"], "reason": "modified ciphertext"}]},
        {"tgId": 3, "testType": "VAL", "parameterSet": "ML-KEM-768", "function": "decapsulation", "keyFormat": "seed",
         "tests": [{"tcId": 20, "d": r0["d"], "z": r0["z"], "c": r0["ct"], "k": r0["ss"]},
                   {"tcId": 21, "d": r1["d"], "z": r1["z"], "c": r1["ct_n"], "k": r1["ss_n"],
                    "reason": "modified ciphertext"}]},
        {"tgId": 4, "testType": "VAL", "parameterSet": "ML-KEM-768", "function": "encapsulationKeyCheck", "tests": [
            {"tcId": 30, "ek": r0["pk"], "testPassed": True},
            {"tcId": 31, "ek": invalid_modulus(r1["pk"]), "testPassed": False},
            {"tcId": 32, "ek": r0["pk"] + "00", "testPassed": False}]},
        {"tgId": 5, "testType": "VAL", "parameterSet": "ML-KEM-768", "function": "decapsulationKeyCheck", "tests": [
            {"tcId": 40, "dk": r0["sk"], "testPassed": True},
            {"tcId": 41, "dk": wrong_hash(r1["sk"]), "testPassed": False, "reason": "modified H"},
            {"tcId": 42, "dk": r0["sk"][:-2], "testPassed": False, "reason": "short dk"}]},
    ]
    return vector_set("ML-KEM", "encapDecap", groups, revision="FIPS203")


def test_mlkem_encap_decap_every_function(tmp_path, backend):
    path = write(tmp_path / "internalProjection.json", mlkem_encap_decap(kem_records(3)))
    result = only(run_kat([backend.name], sources="none", vector_paths=[path]))
    assert result.failed == 0, result.failures
    if backend.name == "liboqs":  # everything: encaps + decaps with the expanded dk, key checks
        assert (result.passed, result.skipped) == (3 * 2 + 2 + 2 + 3 + 3, 0)
    else:  # seed decapsulation and the encapsulation-key check; the rest needs an expanded dk or m
        assert result.passed == 2 + 3
        assert result.skip_reasons == {OPENSSL_NO_DET_ENCAPS: 3, OPENSSL_NO_EXPANDED_DK: 3 + 2 + 3}


@pytest.mark.parametrize(("group", "test", "field", "check"), [
    (1, 0, "k", "encaps-deterministic"),  # the encapsulation's k, and so the decapsulation too
    (2, 0, "k", "decaps-ss"),  # decapsulation with an expanded dk
    (2, 1, "k", "decaps-ss"),  # its implicit rejection
    (5, 1, "testPassed", "dk-check"),  # a dk with a wrong H(ek) claimed valid
    (5, 0, "testPassed", "dk-check"),  # a good dk claimed invalid
])
def test_mlkem_expanded_dk_checks_catch_a_mutated_answer(tmp_path, liboqs_backend, group, test, field, check):
    doc = mlkem_encap_decap(kem_records(3))
    case = doc["testGroups"][group - 1]["tests"][test]
    case[field] = (not case[field]) if field == "testPassed" else tampered(case[field])
    result = only(run_kat(["liboqs"], sources="none", vector_paths=[write(tmp_path / "ed.json", doc)]))
    assert check in {failure.check for failure in result.failures}
    assert {failure.vector_id for failure in result.failures} == {f"ed.json#tgId={group}/tcId={case['tcId']}"}


def test_mlkem_key_check_with_a_wrong_verdict_fails(tmp_path, openssl_backend):
    doc = mlkem_encap_decap(kem_records(2))
    doc["testGroups"][3]["tests"][1]["testPassed"] = True  # claims the out-of-range key is valid
    path = write(tmp_path / "internalProjection.json", doc)
    (failure,) = only(run_kat(["openssl"], sources="none", vector_paths=[path])).failures
    assert failure.vector_id == "internalProjection.json#tgId=4/tcId=31"
    assert failure.check == "ek-check" and failure.detail.startswith("rejected a valid encapsulation key")


def test_a_file_of_expanded_dk_decapsulations_verifies_nothing_on_openssl(tmp_path, openssl_backend):
    doc = mlkem_encap_decap(kem_records(2))
    doc["testGroups"] = [doc["testGroups"][1]]
    report = run_kat(["openssl"], sources="none", vector_paths=[write(tmp_path / "dk.json", doc)])
    assert (report.total_passed, report.total_skipped, report.ok) == (0, 2, False)
    assert report.empty_sources == [f"file:{tmp_path / 'dk.json'}"]
    problem = report.problem()
    assert problem.exit_code == 5 and OPENSSL_NO_EXPANDED_DK in str(problem)


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


def mu_of(pk_hex: str, internal_message: bytes) -> bytes:
    """FIPS 204: mu = SHAKE256(SHAKE256(pk, 64) || M', 64), written out here independently of x0ctl."""
    import hashlib

    return hashlib.shake_256(hashlib.shake_256(bytes.fromhex(pk_hex)).digest(64) + internal_message).digest(64)


# FIPS 204 section 5.4: the DER OIDs HashML-DSA puts into M', copied from the standard.
SHA2_256_OID = bytes.fromhex("0609608648016503040201")
SHAKE_128_OID = bytes.fromhex("060960864801650304020B")


def hash_ml_dsa_message(record: dict, oid: bytes, digest: bytes) -> bytes:
    ctx = bytes.fromhex(record["ctx"])
    return bytes([1, len(ctx)]) + ctx + oid + digest


def signed_over_mu(record: dict, internal_message: bytes) -> str:
    """A signature over M' from pyca/cryptography's sign_mu, for forms NIST's KAT files do not cover."""
    from cryptography.hazmat.primitives.asymmetric import mldsa

    key = mldsa.MLDSA65PrivateKey.from_seed_bytes(bytes.fromhex(record["xi"]))
    return key.sign_mu(mu_of(record["pk"], internal_message)).hex().upper()


def mldsa_sigver(records) -> dict:
    import hashlib

    r0, r1, r2 = records
    external = [{"tcId": 1, "pk": r0["pk"], "message": r0["msg"], "context": r0["ctx"], "signature": r0["sig"],
                 "testPassed": True},
                {"tcId": 2, "pk": r1["pk"], "message": tampered(r1["msg"]), "context": r1["ctx"],
                 "signature": r1["sig"], "testPassed": False, "reason": "modified message"},
                {"tcId": 3, "pk": r2["pk"], "message": r2["msg"], "context": r2["ctx"],
                 "signature": tampered(r2["sig"]), "testPassed": False, "reason": "modified signature - z"}]
    message = bytes.fromhex(r1["msg"])
    sha_message = hash_ml_dsa_message(r1, SHA2_256_OID, hashlib.sha256(message).digest())
    shake_message = hash_ml_dsa_message(r1, SHAKE_128_OID, hashlib.shake_128(message).digest(32))
    internal = b"\x02x0ctl: an M' that is no pure ML-DSA message"
    return vector_set("ML-DSA", "sigVer", [
        {"tgId": 1, "testType": "AFT", "parameterSet": "ML-DSA-65", "signatureInterface": "external",
         "preHash": "pure", "tests": external},
        {"tgId": 2, "testType": "AFT", "parameterSet": "ML-DSA-65", "signatureInterface": "external",
         "preHash": "preHash", "tests": [
             {"tcId": 10, "pk": r0["pk"], "message": r0["msg"], "context": "", "hashAlg": "SHA2-512",
              "signature": r0["sig"], "testPassed": False, "reason": "a pure signature is no HashML-DSA one"},
             {"tcId": 11, "pk": r1["pk"], "message": r1["msg"], "context": r1["ctx"], "hashAlg": "SHA2-256",
              "signature": signed_over_mu(r1, sha_message), "testPassed": True},
             {"tcId": 12, "pk": r1["pk"], "message": r1["msg"], "context": r1["ctx"], "hashAlg": "SHAKE-128",
              "signature": signed_over_mu(r1, shake_message), "testPassed": True}]},
        {"tgId": 3, "testType": "AFT", "parameterSet": "ML-DSA-65", "signatureInterface": "internal",
         "externalMu": True, "tests": [
             {"tcId": 20, "pk": r0["pk"], "mu": "00" * 64, "signature": r0["sig"], "testPassed": False},
             {"tcId": 21, "pk": r0["pk"], "mu": mu_of(r0["pk"], bytes.fromhex(pure_message(r0))).hex(),
              "signature": r0["sig"], "testPassed": True, "reason": "NIST's signature, mu computed"}]},
        {"tgId": 4, "testType": "AFT", "parameterSet": "ML-DSA-65", "signatureInterface": "internal",
         "externalMu": False, "tests": [
             {"tcId": 30, "pk": r0["pk"], "message": pure_message(r0), "signature": r0["sig"], "testPassed": True},
             {"tcId": 31, "pk": r1["pk"], "message": "01" + pure_message(r1)[2:], "signature": r1["sig"],
              "testPassed": False},
             {"tcId": 32, "pk": r1["pk"], "message": internal.hex(), "signature": signed_over_mu(r1, internal),
              "testPassed": True}]},
        # A vector set from before the FIPS 204 interfaces: pk at group level, M' signed as given.
        {"tgId": 5, "testType": "AFT", "parameterSet": "ML-DSA-65", "pk": r0["pk"], "tests": [
            {"tcId": 40, "message": pure_message(r0), "signature": r0["sig"], "testPassed": True}]},
    ])


def test_mldsa_sigver_every_interface(tmp_path, backend):
    path = write(tmp_path / "internalProjection.json", mldsa_sigver(dsa_records(3)))
    result = only(run_kat([backend.name], sources="none", vector_paths=[path]))
    assert result.failed == 0, result.failures
    if backend.name == "openssl":  # pure through verify, every other form through verify_mu
        assert (result.passed, result.skipped) == (3 + 3 + 2 + 3 + 1, 0)
    else:  # pure, and internal M' of the pure form; HashML-DSA, external mu, other M' need mu
        assert result.passed == 3 + 1 + 1
        assert result.skip_reasons == {LIBOQS_NO_MU: 3 + 2 + 2}


@pytest.mark.parametrize(("group", "test"), [(1, 2), (2, 0), (2, 1), (2, 2), (3, 0), (3, 1), (4, 1), (4, 2), (5, 0)])
def test_mldsa_sigver_flipped_verdict_fails_on_openssl(tmp_path, openssl_backend, group, test):
    doc = mldsa_sigver(dsa_records(3))
    case = doc["testGroups"][group - 1]["tests"][test]
    case["testPassed"] = not case["testPassed"]
    report = run_kat(["openssl"], sources="none", vector_paths=[write(tmp_path / "sigver.json", doc)])
    (failure,) = only(report).failures
    assert (failure.vector_id, failure.check) == (f"sigver.json#tgId={group}/tcId={case['tcId']}", "verify")
    assert failure.detail == ("an invalid signature was accepted" if not case["testPassed"]
                              else "a valid signature was rejected")
    assert report.problem().exit_code == 1


def test_mldsa_sigver_hash_alg_must_be_known(tmp_path):
    doc = mldsa_sigver(dsa_records(3))
    doc["testGroups"][1]["tests"][1]["hashAlg"] = "SHA1"
    with pytest.raises(VectorDataError, match=r"tgId=2/tcId=11: unknown hashAlg 'SHA1'"):
        run_kat(["openssl"], sources="none", vector_paths=[write(tmp_path / "sigver.json", doc)])


def mldsa_siggen(records) -> dict:
    r0, r1 = records
    return vector_set("ML-DSA", "sigGen", [
        {"tgId": 1, "testType": "AFT", "parameterSet": "ML-DSA-65", "deterministic": True,
         "signatureInterface": "external", "preHash": "pure", "tests": [
             {"tcId": 1, "pk": r0["pk"], "sk": r0["sk"], "message": r0["msg"], "context": r0["ctx"],
              "signature": r0["sig"]}]},
        # FIPS 204: deterministic signing is hedged signing with rnd = 0^32, so NIST's deterministic
        # signature is also the known answer of a hedged group given that rnd.
        {"tgId": 2, "testType": "AFT", "parameterSet": "ML-DSA-65", "deterministic": False,
         "signatureInterface": "external", "preHash": "pure", "tests": [
             {"tcId": 2, "pk": r1["pk"], "sk": r1["sk"], "message": r1["msg"], "context": r1["ctx"],
              "rnd": "00" * 32, "signature": r1["sig"]}]},
        {"tgId": 3, "testType": "AFT", "parameterSet": "ML-DSA-65", "deterministic": True,
         "signatureInterface": "internal", "externalMu": False, "tests": [
             {"tcId": 3, "pk": r0["pk"], "sk": r0["sk"], "message": pure_message(r0), "signature": r0["sig"]}]},
        {"tgId": 4, "testType": "AFT", "parameterSet": "ML-DSA-65", "deterministic": True,
         "signatureInterface": "internal", "externalMu": True, "tests": [
             {"tcId": 4, "pk": r0["pk"], "sk": r0["sk"], "mu": mu_of(r0["pk"], bytes.fromhex(pure_message(r0))).hex(),
              "signature": r0["sig"]}]},
    ])


def test_mldsa_siggen_reproduces_signatures_with_the_expanded_sk(tmp_path, backend):
    doc = mldsa_siggen(dsa_records(2))
    result = only(run_kat([backend.name], sources="none", vector_paths=[write(tmp_path / "siggen.json", doc)]))
    assert result.failed == 0, result.failures
    mu_reason = SIGN_FORM_REASON.format(form="external-mu")
    if backend.name == "liboqs":  # verify 4 (mu: skipped), sign 3 (pure, rnd 0, internal of pure form)
        assert result.passed == 3 + 3
        assert result.skip_reasons == {LIBOQS_NO_MU: 1, mu_reason: 1}
    else:
        assert result.passed == 4
        assert result.skip_reasons == {OPENSSL_NO_EXPANDED_SK: 3, mu_reason: 1}


@pytest.mark.parametrize(("group", "field"), [(1, "signature"), (2, "rnd"), (2, "sk"), (3, "message")])
def test_mldsa_siggen_mutated_answer_fails_on_liboqs(tmp_path, liboqs_backend, group, field):
    doc = mldsa_siggen(dsa_records(2))
    case = doc["testGroups"][group - 1]["tests"][0]
    case[field] = "11" * 32 if field == "rnd" else tampered(case[field])
    result = only(run_kat(["liboqs"], sources="none", vector_paths=[write(tmp_path / "siggen.json", doc)]))
    checks = {failure.check for failure in result.failures}
    assert checks & {"sign-deterministic", "sign-hedged"}, result.failures


def test_mldsa_siggen_prompt_without_pk_still_signs_where_it_can(tmp_path, backend):
    prompt, expected = split(mldsa_siggen(dsa_records(2)), ("signature",))
    for group in prompt["testGroups"]:
        for test in group["tests"]:
            del test["pk"]
    write(tmp_path / "prompt.json", prompt)
    write(tmp_path / "expectedResults.json", expected)
    report = run_kat([backend.name], sources="none", vector_paths=[tmp_path / "prompt.json"])
    result = only(report)
    assert (result.failed, result.skip_reasons[NO_PK_REASON]) == (0, 4)
    assert result.passed == (3 if backend.name == "liboqs" else 0)
    assert (report.problem() is None) == (backend.name == "liboqs")


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
    with pytest.raises(UsageError, match=r"vector x\.json#tgId=1/tcId=1: field 'ek' is not valid hex"):
        run_kat(["openssl"], sources="none", vector_paths=[write(tmp_path / "x.json", doc)])
