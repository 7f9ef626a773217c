"""Review: `slo rules --out FILE` rewrites the operator's rules file in place, not atomically.

x0ctl/cli/slo.py:rules uses Path.write_text: the existing file is truncated and rewritten through the
same inode, so a kill -9 or a full disk mid-write leaves Prometheus a truncated rule file (its next
reload fails), and a reader sees half a file. Every other operator-named file goes through
x0ctl.keystore.fsutil.atomic_write (temporary file beside it, fsync, rename): a new inode.
"""

from __future__ import annotations

from tests.conftest import run_x0ctl


def test_review_slo_rules_out_replaces_file_atomically(tmp_path):
    out = tmp_path / "x0ctl-slo-rules.yaml"
    out.write_text("groups: []\n")
    reader_view = tmp_path / "held-by-a-reader.yaml"
    reader_view.hardlink_to(out)  # stands for a reader (Prometheus) holding the old file open
    done = run_x0ctl("slo", "rules", "--out", str(out), timeout=60)
    assert done.returncode == 0, done.stderr
    assert "SLOErrorBudgetBurn" in out.read_text()
    assert reader_view.read_text() == "groups: []\n", "the old file was truncated and rewritten in place"
