"""The known-answer subset shipped inside x0ctl (x0ctl/kat/data), read with minimal imports.

Written by scripts/make-kat-subset.py: index.json (per algorithm: file, count, where the vectors
came from) and one gzip'd JSON file per algorithm whose byte fields are base64. The production
guard's power-on self-test reads it on every guarded start, so this module imports nothing heavy.
"""

from __future__ import annotations

import base64
import binascii
import functools
import gzip
import json
from pathlib import Path

from x0ctl.errors import EnvironmentProblem

SUBSET_FORMAT = "x0ctl-kat-subset/1"
# x0ctl is installed as a regular package (wheel or editable), so the data sits next to this file.
DATA_DIR = Path(__file__).resolve().parent / "data"
_REBUILD_HINT = "reinstall x0ctl; developers run scripts/make-kat-subset.py"


@functools.lru_cache(maxsize=1)
def embedded_index() -> dict:
    """index.json of the subset. Cached: it is read by every guarded start and every KAT run."""
    try:
        index = json.loads((DATA_DIR / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EnvironmentProblem(f"the embedded KAT subset is missing or damaged: {exc}", hint=_REBUILD_HINT) from None
    if not isinstance(index, dict) or index.get("format") != SUBSET_FORMAT:
        raise EnvironmentProblem(f"the embedded KAT subset is not in format {SUBSET_FORMAT}", hint=_REBUILD_HINT)
    return index


def embedded_entries(algorithm: str, limit: int | None = None) -> list[dict]:
    """The subset's vectors for one algorithm: `id` plus byte fields, decoded from base64."""
    entry = embedded_index()["algorithms"].get(algorithm)
    if entry is None:
        return []
    try:
        document = json.loads(gzip.decompress((DATA_DIR / entry["file"]).read_bytes()))
        if document.get("encoding") != "base64":
            raise ValueError(f"unknown encoding {document.get('encoding')!r}")
        vectors = document["vectors"] if limit is None else document["vectors"][:limit]
        return [{key: value if key == "id" else base64.b64decode(value, validate=True) for key, value in vector.items()}
                for vector in vectors]
    except (OSError, ValueError, KeyError, TypeError, EOFError, binascii.Error, gzip.BadGzipFile) as exc:
        raise EnvironmentProblem(f"the embedded KAT subset file {entry.get('file')} is damaged: {exc}",
                                 hint=_REBUILD_HINT) from None
