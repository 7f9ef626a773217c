"""NIST ACVP JSON (usnistgov/ACVP-Server gen-val/json-files) for ML-KEM and ML-DSA.

Accepted: `internalProjection.json` (inputs and answers in one file), or `prompt.json` with its
`expectedResults.json` (paired by file name - "prompt" -> "expectedResults" in the same folder -
or by algorithm/mode/revision/vsId among the files given), or an ACVP-Server folder holding them.
The `[{"acvVersion": ...}, {...}]` wrapping of ACVTS downloads is accepted too.

What x0ctl can run (its backends create private keys from FIPS seeds only, and offer pure
ML-DSA with a context; see docs/kat.md for the full table):

- ML-KEM keyGen: d, z -> ek (and dk where the backend exposes it).
- ML-KEM encapDecap: encapsulation (ek, m -> c, k; needs deterministic encapsulation),
  decapsulation when the key is given as a seed (FIPS203-tr1 keyFormat "seed"; an expanded dk
  cannot be loaded: skipped), encapsulationKeyCheck (ek -> accepted?); decapsulationKeyCheck
  needs an expanded dk: skipped.
- ML-DSA keyGen: seed -> pk (and sk where exposed).
- ML-DSA sigVer: pure (external) groups; internal-interface groups when the message happens to
  be of the pure form 0x00 || len(ctx) || ctx || M; preHash and externalMu groups are skipped.
- ML-DSA sigGen: the expected signature must verify under pk (when the file carries pk);
  reproducing it needs the expanded sk, which cannot be loaded: skipped.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from pathlib import Path

from x0ctl.errors import IOFailure, UsageError
from x0ctl.kat.formats import load_json, read_vector_file
from x0ctl.kat.vectors import (
    DECAPS,
    DK_CHECK,
    EK_CHECK,
    ENCAPS_DET,
    KEM_ALGORITHMS,
    KEYGEN_PK,
    KEYGEN_SK,
    SIG_ALGORITHMS,
    SIGN_DET,
    SIGN_HEDGED,
    VERIFY,
    KemVector,
    LoadedSource,
    SigVector,
    VectorDataError,
)

EXPANDED_DK_REASON = "ACVP gives an expanded decapsulation key (dk); x0ctl backends load ML-KEM keys only from seeds"
EXPANDED_SK_REASON = ("ACVP sigGen gives an expanded signing key (sk); x0ctl backends load ML-DSA keys only from "
                      "seeds, so the signature cannot be reproduced")
HEDGED_SIGGEN_REASON = EXPANDED_SK_REASON + ", nor do they accept a caller-supplied rnd"
PREHASH_REASON = "HashML-DSA (preHash) is not offered by x0ctl backends"
EXTERNAL_MU_REASON = "ML-DSA with an externally computed mu is not offered by x0ctl backends"
INTERNAL_REASON = ("internal-interface message is not of the pure ML-DSA form 0x00 || len(ctx) || ctx || M, "
                   "the only form x0ctl backends verify")
NO_PK_REASON = "this sigGen file carries no public key (use internalProjection.json)"

_SUPPORTED = {("ML-KEM", "keyGen"), ("ML-KEM", "encapDecap"), ("ML-DSA", "keyGen"), ("ML-DSA", "sigGen"),
              ("ML-DSA", "sigVer")}
# A test that carries one of these holds answers: the file is an internalProjection, not a prompt.
_ANSWER_FIELDS = {"keyGen": ("ek", "pk"), "encapDecap": ("k", "testPassed"), "sigGen": ("signature",),
                  "sigVer": ("testPassed",)}


def acvp_payload(doc) -> dict | None:
    """The vector-set object of an ACVP document (unwrapping ACVTS' [{acvVersion}, {...}])."""
    if isinstance(doc, list) and len(doc) == 2 and isinstance(doc[0], dict) and "acvVersion" in doc[0]:
        doc = doc[1]
    if isinstance(doc, dict) and isinstance(doc.get("testGroups"), list) and ("algorithm" in doc or "vsId" in doc):
        return doc
    return None


@dataclass
class AcvpDocument:
    path: Path
    payload: dict
    role: str  # "internalProjection", "prompt" or "expectedResults"

    @classmethod
    def from_json(cls, path: Path, doc) -> AcvpDocument:
        payload = acvp_payload(doc)
        if payload is None:
            raise UsageError(f"{path}: not an ACVP vector set")
        return cls(path, payload, _role(payload))

    @property
    def key(self) -> tuple:
        p = self.payload
        return (p.get("algorithm"), p.get("mode"), p.get("revision"), p.get("vsId"))


def _role(payload: dict) -> str:
    groups = [group for group in payload["testGroups"] if isinstance(group, dict)]
    if groups and not any("parameterSet" in group for group in groups):
        return "expectedResults"
    answers = _ANSWER_FIELDS.get(payload.get("mode"), ())
    for group in groups:
        for test in group.get("tests", ()):
            if isinstance(test, dict) and any(name in test for name in answers):
                return "internalProjection"
    return "prompt"


def read_directory(path: Path) -> list[AcvpDocument]:
    """An ACVP-Server folder: its internalProjection.json, else prompt.json + expectedResults.json."""
    for names in (("internalProjection.json",), ("prompt.json", "expectedResults.json")):
        if all((path / name).is_file() for name in names):
            return [_read(path / name) for name in names]
    raise IOFailure(f"{path} is a directory without ACVP files (internalProjection.json, or prompt.json with "
                     "expectedResults.json); pass vector files instead")


def _read(path: Path) -> AcvpDocument:
    doc = load_json(read_vector_file(path), str(path))
    if acvp_payload(doc) is None:
        raise UsageError(f"{path}: not an ACVP vector set")
    return AcvpDocument.from_json(path, doc)


def _sibling(path: Path, old: str, new: str) -> Path | None:
    if old not in path.name:
        return None
    return path.with_name(path.name.replace(old, new))


def load_documents(documents: list[AcvpDocument], wanted: frozenset[str]) -> list[LoadedSource]:
    """Pair prompts with expected results, then turn every vector set into batches."""
    prompts = [doc for doc in documents if doc.role == "prompt"]
    expected = [doc for doc in documents if doc.role == "expectedResults"]
    used: set[int] = set()
    ready: list[tuple[AcvpDocument, AcvpDocument | None]] = [(doc, None) for doc in documents
                                                              if doc.role == "internalProjection"]
    for prompt in prompts:
        partner = _find_partner(prompt, expected, used)
        if partner is None:
            sibling = _sibling(prompt.path, "prompt", "expectedResults")
            if sibling is None or not sibling.is_file():
                raise UsageError(f"{prompt.path} is an ACVP prompt without answers: pass its expectedResults.json "
                                 "as well (or internalProjection.json instead)")
            partner = _read(sibling)
        ready.append((prompt, partner))
    for answers in expected:
        if id(answers) in used:
            continue
        sibling = _sibling(answers.path, "expectedResults", "prompt")
        if sibling is None or not sibling.is_file():
            raise UsageError(f"{answers.path} holds only ACVP expected results: pass its prompt.json as well "
                             "(or internalProjection.json instead)")
        ready.append((_read(sibling), answers))
    return [_convert(prompt, answers, wanted) for prompt, answers in ready]


def _find_partner(prompt: AcvpDocument, expected: list[AcvpDocument], used: set[int]) -> AcvpDocument | None:
    sibling = _sibling(prompt.path, "prompt", "expectedResults")
    for candidate in expected:
        if id(candidate) not in used and sibling is not None and candidate.path.resolve() == sibling.resolve():
            used.add(id(candidate))
            return candidate
    same_set = [c for c in expected if id(c) not in used and c.key == prompt.key]
    if len(same_set) == 1:
        used.add(id(same_set[0]))
        return same_set[0]
    if len(same_set) > 1:
        raise UsageError(f"{prompt.path}: several expectedResults files match vector set {prompt.key}; keep each "
                         "prompt next to its expectedResults with matching names")
    return None


def _merge(prompt: AcvpDocument, answers: AcvpDocument) -> list[dict]:
    """The prompt's groups with the expected results folded into each group and test."""
    expected_groups = {group.get("tgId"): group for group in answers.payload["testGroups"] if isinstance(group, dict)}
    merged = []
    for group in prompt.payload["testGroups"]:
        answer_group = expected_groups.get(group.get("tgId"))
        if answer_group is None:
            raise VectorDataError(f"{answers.path}: no expected results for tgId {group.get('tgId')} of {prompt.path}")
        answer_tests = {test.get("tcId"): test for test in answer_group.get("tests", ())}
        tests = []
        for test in group.get("tests", ()):
            answer = answer_tests.get(test.get("tcId"))
            if answer is None:
                raise VectorDataError(f"{answers.path}: no expected result for tcId {test.get('tcId')} "
                                      f"(tgId {group.get('tgId')})")
            tests.append({**test, **answer})
        extra = {key: value for key, value in answer_group.items() if key != "tests"}
        merged.append({**group, **extra, "tests": tests})
    return merged


def _convert(prompt: AcvpDocument, answers: AcvpDocument | None, wanted: frozenset[str]) -> LoadedSource:
    payload = prompt.payload
    algorithm, mode = payload.get("algorithm"), payload.get("mode")
    label = str(prompt.path)
    if (algorithm, mode) not in _SUPPORTED:
        raise UsageError(f"{label}: ACVP {algorithm} {mode} is not supported; x0ctl runs ML-KEM keyGen/encapDecap "
                         "and ML-DSA keyGen/sigGen/sigVer")
    meta = {"name": f"file:{label}", "path": label, "format": "acvp",
            "acvp": {"algorithm": algorithm, "mode": mode, "revision": payload.get("revision"),
                     "vsId": payload.get("vsId"),
                     "files": "internalProjection" if answers is None else "prompt+expectedResults"}}
    if answers is not None:
        meta["expected_results"] = str(answers.path)
    source = LoadedSource(f"file:{label}", meta)
    groups = payload["testGroups"] if answers is None else _merge(prompt, answers)
    name = prompt.path.name
    known = KEM_ALGORITHMS if algorithm == "ML-KEM" else SIG_ALGORITHMS
    build = _BUILDERS[(algorithm, mode)]
    for group in groups:
        if not isinstance(group, dict):
            raise VectorDataError(f"{label}: a test group is not an object")
        parameter_set = group.get("parameterSet")
        if parameter_set not in known:
            raise VectorDataError(f"{label}: tgId {group.get('tgId')}: unknown parameterSet {parameter_set!r}")
        if parameter_set not in wanted:
            continue
        vectors = []
        for test in group.get("tests", ()):
            if not isinstance(test, dict):
                raise VectorDataError(f"{label}: tgId {group.get('tgId')}: a test case is not an object")
            vector_id = f"{name}#tgId={group.get('tgId')}/tcId={test.get('tcId')}"
            vector = build(group, test, parameter_set, vector_id, source)
            if vector is not None:
                vectors.append(vector)
        source.add(parameter_set, vectors)
    return source


def _get(test: dict, group: dict, key: str, vector_id: str) -> str:
    """A hex field from the test case, or from its group (older vector sets keep keys there)."""
    value = test.get(key, group.get(key))
    if not isinstance(value, str):
        raise VectorDataError(f"vector {vector_id}: missing field {key!r}")
    return value


def _verdict(test: dict, vector_id: str) -> bool:
    value = test.get("testPassed")
    if not isinstance(value, bool):
        raise VectorDataError(f"vector {vector_id}: missing boolean 'testPassed'")
    return value


def _kem_keygen(group, test, algorithm, vector_id, source) -> KemVector:
    expanded = test.get("dk")
    return KemVector(vector_id=vector_id, algorithm=algorithm,
                     checks=(KEYGEN_PK, KEYGEN_SK) if expanded else (KEYGEN_PK,),
                     seed=(_get(test, group, "d", vector_id), _get(test, group, "z", vector_id)),
                     public_key=_get(test, group, "ek", vector_id), expanded_key=expanded)


def _kem_seed(test: dict, group: dict, vector_id: str) -> tuple[str, ...] | None:
    if isinstance(test.get("seed"), str):
        return (test["seed"],)
    if isinstance(test.get("d"), str) and isinstance(test.get("z"), str):
        return (test["d"], test["z"])
    if group.get("keyFormat") == "seed":
        raise VectorDataError(f"vector {vector_id}: keyFormat is seed but the test has no d and z")
    return None


def _kem_encap_decap(group, test, algorithm, vector_id, source) -> KemVector | None:
    function = group.get("function") or ("encapsulation" if group.get("testType") == "AFT" else "decapsulation")
    if function == "encapsulation":
        return KemVector(vector_id=vector_id, algorithm=algorithm, checks=(ENCAPS_DET,),
                         public_key=_get(test, group, "ek", vector_id),
                         encaps_message=_get(test, group, "m", vector_id),
                         encaps_ciphertext=_get(test, group, "c", vector_id),
                         encaps_secret=_get(test, group, "k", vector_id))
    if function == "decapsulation":
        seed = _kem_seed(test, group, vector_id)
        if seed is None:
            return KemVector(vector_id=vector_id, algorithm=algorithm, checks=(DECAPS,),
                             unrunnable={DECAPS: EXPANDED_DK_REASON})
        return KemVector(vector_id=vector_id, algorithm=algorithm, checks=(DECAPS,), seed=seed,
                         ciphertext=_get(test, group, "c", vector_id), shared_secret=_get(test, group, "k", vector_id))
    if function == "encapsulationKeyCheck":
        return KemVector(vector_id=vector_id, algorithm=algorithm, checks=(EK_CHECK,),
                         public_key=_get(test, group, "ek", vector_id), key_valid=_verdict(test, vector_id))
    if function == "decapsulationKeyCheck":
        return KemVector(vector_id=vector_id, algorithm=algorithm, checks=(DK_CHECK,),
                         unrunnable={DK_CHECK: EXPANDED_DK_REASON})
    source.ignore(f"{vector_id}", 1, f"ACVP ML-KEM function {function!r} is unknown to x0ctl")
    return None


def _dsa_keygen(group, test, algorithm, vector_id, source) -> SigVector:
    expanded = test.get("sk")
    return SigVector(vector_id=vector_id, algorithm=algorithm,
                     checks=(KEYGEN_PK, KEYGEN_SK) if expanded else (KEYGEN_PK,),
                     seed=_get(test, group, "seed", vector_id), public_key=_get(test, group, "pk", vector_id),
                     expanded_key=expanded)


def _pure_form(group: dict, test: dict, vector_id: str) -> tuple[str, str] | str:
    """(message, context) as pure ML-DSA takes them, or the reason this test cannot be expressed so."""
    if group.get("externalMu") or "mu" in test:
        return EXTERNAL_MU_REASON
    # Vector sets from before the FIPS 204 interfaces have no signatureInterface and sign M' as given.
    interface = group.get("signatureInterface", "internal")
    if interface == "external":
        if group.get("preHash", "pure") != "pure":
            return PREHASH_REASON
        return _get(test, group, "message", vector_id), test.get("context") or ""
    if interface != "internal":
        return f"unknown ACVP signatureInterface {interface!r}"
    try:
        message = binascii.unhexlify(_get(test, group, "message", vector_id))
    except (binascii.Error, ValueError) as exc:
        raise VectorDataError(f"vector {vector_id}: field 'message' is not valid hex ({exc})") from None
    # Pure ML-DSA signs M' = 0x00 || len(ctx) || ctx || M, so such an M' is verifiable through it.
    if len(message) >= 2 and message[0] == 0 and len(message) >= 2 + message[1]:
        length = message[1]
        return message[2 + length:].hex(), message[2:2 + length].hex()
    return INTERNAL_REASON


def _dsa_signature_vector(group, test, algorithm, vector_id, *, expected_valid: bool, extra_checks: tuple,
                          extra_unrunnable: dict, public_key: str | None) -> SigVector:
    form = _pure_form(group, test, vector_id)
    unrunnable = dict(extra_unrunnable)
    message = context = ""
    if isinstance(form, str):
        unrunnable[VERIFY] = form
    else:
        message, context = form
    if public_key is None:
        unrunnable.setdefault(VERIFY, NO_PK_REASON)
    return SigVector(vector_id=vector_id, algorithm=algorithm, checks=(VERIFY, *extra_checks),
                     public_key=public_key, message=message, context=context,
                     signature=_get(test, group, "signature", vector_id), expected_valid=expected_valid,
                     unrunnable=unrunnable)


def _dsa_sigver(group, test, algorithm, vector_id, source) -> SigVector:
    return _dsa_signature_vector(group, test, algorithm, vector_id, expected_valid=_verdict(test, vector_id),
                                 extra_checks=(), extra_unrunnable={},
                                 public_key=_get(test, group, "pk", vector_id))


def _dsa_siggen(group, test, algorithm, vector_id, source) -> SigVector:
    deterministic = group.get("deterministic", True)
    check = SIGN_DET if deterministic else SIGN_HEDGED
    public_key = test.get("pk", group.get("pk"))
    return _dsa_signature_vector(
        group, test, algorithm, vector_id, expected_valid=True, extra_checks=(check,),
        extra_unrunnable={check: EXPANDED_SK_REASON if deterministic else HEDGED_SIGGEN_REASON},
        public_key=public_key if isinstance(public_key, str) else None)


_BUILDERS = {
    ("ML-KEM", "keyGen"): _kem_keygen,
    ("ML-KEM", "encapDecap"): _kem_encap_decap,
    ("ML-DSA", "keyGen"): _dsa_keygen,
    ("ML-DSA", "sigGen"): _dsa_siggen,
    ("ML-DSA", "sigVer"): _dsa_sigver,
}
