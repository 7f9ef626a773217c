"""Operator vector files (`--vectors`): detected by content, parsed, ACVP prompts paired with answers.

It sits above the parsers: it imports `x0ctl.kat.formats` (NIST .rsp, X-Wing and HPKE-PQ JSON)
and `x0ctl.kat.acvp`, neither of which imports it; acvp uses formats only to read files.
"""

from __future__ import annotations

from pathlib import Path

from x0ctl.errors import UsageError
from x0ctl.kat.acvp import AcvpDocument, acvp_payload, load_documents, read_directory
from x0ctl.kat.formats import FORMATS_HELP, load_json, parse_hpke_json, parse_rsp, parse_xwing_json, read_vector_file
from x0ctl.kat.vectors import LoadedSource


def json_kind(doc) -> str | None:
    """"xwing", "hpke" or "acvp" for a parsed JSON document; None when it is none of them."""
    if acvp_payload(doc) is not None:
        return "acvp"
    if isinstance(doc, list) and doc and all(isinstance(entry, dict) for entry in doc):
        if all("kem_id" in entry and "skRm" in entry for entry in doc):
            return "hpke"
        if all({"seed", "pk", "ct", "ss"} <= entry.keys() for entry in doc):
            return "xwing"
    return None


def looks_like_rsp(data: bytes) -> bool:
    for raw in data[:4096].splitlines():
        line = raw.strip()
        if not line or line.startswith((b"#", b"[")):
            continue
        key, sep, _ = line.partition(b"=")
        return bool(sep) and key.strip().replace(b"_", b"").isalnum()
    return False


def load_operator_files(paths, wanted: frozenset[str]) -> list[LoadedSource]:
    """Parse the operator's --vectors files; ACVP prompts are paired with their expected results."""
    if not paths:
        return []
    loaded: list[LoadedSource] = []
    acvp_documents: list[AcvpDocument] = []
    for raw_path in paths:
        path = Path(raw_path)
        if path.is_dir():
            acvp_documents.extend(read_directory(path))
            continue
        data = read_vector_file(path)
        label = str(path)
        if not data.strip():
            raise UsageError(f"{label}: the file is empty")
        head = data.lstrip()[:1]
        if head in (b"{", b"["):
            doc = load_json(data, label)
            kind = json_kind(doc)
            if kind == "acvp":
                acvp_documents.append(AcvpDocument.from_json(path, doc))
                continue
            if kind is None:
                raise UsageError(f"{label}: unknown vector format; expected {FORMATS_HELP}")
            source = LoadedSource(f"file:{label}", {"name": f"file:{label}", "path": label, "format": kind})
            (parse_hpke_json if kind == "hpke" else parse_xwing_json)(doc, path.name, source, wanted)
        elif looks_like_rsp(data):
            source = LoadedSource(f"file:{label}", {"name": f"file:{label}", "path": label, "format": "nist-rsp"})
            parse_rsp(data, path.name, source, wanted)
        else:
            raise UsageError(f"{label}: unknown vector format; expected {FORMATS_HELP}")
        loaded.append(source)
    loaded.extend(load_documents(acvp_documents, wanted))
    return loaded
