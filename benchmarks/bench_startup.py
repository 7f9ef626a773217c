"""Start-up cost: `x0ctl --help` and `x0ctl version` against `python -c "import typer"`.

    python benchmarks/bench_startup.py [--runs 15]

Each command runs as a fresh process, interleaved so that machine noise hits all three alike;
the median wall time of each is reported with its ratio to the bare `import typer`.
Target: both ratios <= 1.5.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "import typer": [sys.executable, "-c", "import typer"],
    "x0ctl --help": [sys.executable, "-m", "x0ctl", "--help"],
    "x0ctl version": [sys.executable, "-m", "x0ctl", "version"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(2):  # warm the page cache and .pyc files
        for command in COMMANDS.values():
            subprocess.run(command, capture_output=True, check=True)
    for _ in range(args.runs):
        for name, command in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(command, capture_output=True, check=True)
            samples[name].append(time.perf_counter() - start)
    base = statistics.median(samples["import typer"])
    worst = 0.0
    for name, values in samples.items():
        median = statistics.median(values)
        ratio = median / base
        worst = max(worst, ratio)
        print(f"{name:<15} median {median * 1000:7.1f} ms   ratio {ratio:4.2f}")
    verdict = "ok" if worst <= 1.5 else "ABOVE TARGET"
    print(f"worst ratio {worst:.2f} (target <= 1.5): {verdict}")
    return 0 if worst <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
