"""Review: `quorum simulate --plot FILE.svg` rewrites the operator's file in place, not atomically.

x0ctl/quorum/plot.py (the .svg branch) uses Path.write_text: the existing file is truncated and
rewritten through the same inode, so a kill -9 mid-write leaves half an SVG where a whole one was.
Operator-named outputs elsewhere go through x0ctl.keystore.fsutil.atomic_write (new inode).
"""

from __future__ import annotations

from tests.conftest import run_x0ctl


def test_review_quorum_plot_svg_replaces_file_atomically(tmp_path):
    plot = tmp_path / "sweep.svg"
    plot.write_text("<svg/>\n")
    reader_view = tmp_path / "held-by-a-reader.svg"
    reader_view.hardlink_to(plot)  # stands for a reader holding the old file open
    done = run_x0ctl("quorum", "simulate", "-n", "4", "--duration", "5s", "--sweep-byzantine", "0..1",
                     "--plot", str(plot), timeout=120)
    assert done.returncode == 0, done.stderr
    assert plot.read_text().startswith("<svg xmlns")
    assert reader_view.read_text() == "<svg/>\n", "the old file was truncated and rewritten in place"
