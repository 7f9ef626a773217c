"""Draw the Byzantine sweep: SVG written here (no dependency), PNG through matplotlib when installed."""

from __future__ import annotations

import io
from pathlib import Path
from xml.sax.saxutils import escape

from x0ctl.errors import EnvironmentProblem, UsageError
from x0ctl.fsutil import atomic_write

WIDTH, HEIGHT = 760, 440
LEFT, RIGHT, TOP, BOTTOM = 70, 80, 50, 70
COLOURS = {"safety": "#c0392b", "liveness": "#27ae60", "p50": "#2c7fb8", "p95": "#7fcdbb", "bound": "#555555"}


def _series(sweep: dict):
    points = sweep["points"]
    xs = [p["byzantine"] for p in points]
    safety = [p["safety_violation"]["rate"] or 0.0 for p in points]
    liveness = [p["liveness"]["rate"] for p in points]
    p50 = [p["time_to_quorum_s"]["p50"] for p in points]
    p95 = [p["time_to_quorum_s"]["p95"] for p in points]
    return xs, safety, liveness, p50, p95


def render_svg(sweep: dict, title: str | None = None) -> str:
    xs, safety, liveness, p50, p95 = _series(sweep)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x_low, x_high = min(xs), max(max(xs), min(xs) + 1)
    times = [t for t in p50 + p95 if t is not None]
    t_high = max(times) * 1.1 if times else 1.0

    def x_of(value: float) -> float:
        return LEFT + (value - x_low) / (x_high - x_low) * plot_w

    def y_rate(value: float) -> float:
        return TOP + (1.0 - value) * plot_h

    def y_time(value: float) -> float:
        return TOP + (1.0 - value / t_high) * plot_h

    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
              f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">'),
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>']
    heading = title or (f"Byzantine sweep: n = {sweep['nodes']}, quorum {sweep['quorum_threshold']}, "
                        f"{sweep['trials_per_point']} trial(s) per point")
    parts.append(f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="15">{escape(heading)}</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>')
    for step in range(6):
        value = step / 5
        y = y_rate(value)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{value:.1f}</text>')
        parts.append(f'<text x="{LEFT + plot_w + 8}" y="{y + 4:.1f}">{t_high * value:.1f}</text>')
    tick_every = max(1, (x_high - x_low) // 15 + 1)
    for value in range(x_low, x_high + 1, tick_every):
        x = x_of(value)
        parts.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{value}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 30}" text-anchor="middle">Byzantine nodes f</text>')
    parts.append(f'<text transform="translate(18 {TOP + plot_h / 2}) rotate(-90)" text-anchor="middle">rate</text>')
    parts.append(f'<text transform="translate({WIDTH - 18} {TOP + plot_h / 2}) rotate(90)" '
                 f'text-anchor="middle">time to quorum (s)</text>')
    bound = sweep["nodes"] / 3.0
    if x_low <= bound <= x_high:
        x = x_of(bound)
        parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" stroke="{COLOURS["bound"]}" '
                     f'stroke-dasharray="5,4"/>')
        parts.append(f'<text x="{x + 4:.1f}" y="{TOP + 14}" fill="{COLOURS["bound"]}">f = n/3</text>')

    def polyline(values, y_of, colour, dashed=False):
        points = [f"{x_of(x):.1f},{y_of(v):.1f}" for x, v in zip(xs, values) if v is not None]
        if not points:
            return
        dash = ' stroke-dasharray="3,3"' if dashed else ""
        parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        for point in points:
            cx, cy = point.split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>')

    polyline(safety, y_rate, COLOURS["safety"])
    polyline(liveness, y_rate, COLOURS["liveness"])
    polyline(p50, y_time, COLOURS["p50"], dashed=True)
    polyline(p95, y_time, COLOURS["p95"], dashed=True)
    legend = (("agreement or validity violation rate", "safety"), ("true events validated", "liveness"),
              ("time to quorum p50", "p50"), ("time to quorum p95", "p95"))
    for number, (label, key) in enumerate(legend):
        x = LEFT + number * 165
        parts.append(f'<rect x="{x}" y="{HEIGHT - 18}" width="12" height="4" fill="{COLOURS[key]}"/>')
        parts.append(f'<text x="{x + 16}" y="{HEIGHT - 12}">{escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_plot(sweep: dict, path: str | Path) -> Path:
    """Write the sweep to `path`: .svg always works; .png needs matplotlib (exit 3 with a hint if absent)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".svg", ".png"):
        raise UsageError(f"--plot {path}: the file must end in .svg or .png")
    if suffix == ".png":
        return _write_png(sweep, path, _pyplot(path))
    atomic_write(path, render_svg(sweep).encode("utf-8"), mode=0o644)
    return path


def check_plot_target(path: str | Path) -> None:
    """Refuse an unusable --plot target before any simulation work is done."""
    path = Path(path)
    if path.suffix.lower() not in (".svg", ".png"):
        raise UsageError(f"--plot {path}: the file must end in .svg or .png")
    if path.suffix.lower() == ".png":
        _pyplot(path)


def _pyplot(path: Path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise EnvironmentProblem(f"--plot {path}: PNG output needs matplotlib, which is not installed",
                                 hint="pip install matplotlib, or write an .svg file instead") from None
    return pyplot


def _write_png(sweep: dict, path: Path, pyplot) -> Path:
    xs, safety, liveness, p50, p95 = _series(sweep)
    figure, rates = pyplot.subplots(figsize=(8, 4.5))
    rates.plot(xs, safety, "o-", color=COLOURS["safety"], label="agreement or validity violation rate")
    rates.plot(xs, [v if v is not None else float("nan") for v in liveness], "o-", color=COLOURS["liveness"],
               label="true events validated")
    rates.set_xlabel("Byzantine nodes f")
    rates.set_ylabel("rate")
    rates.set_ylim(-0.05, 1.05)
    rates.axvline(sweep["nodes"] / 3.0, color=COLOURS["bound"], linestyle="--", label="f = n/3")
    times = rates.twinx()
    times.plot(xs, [v if v is not None else float("nan") for v in p50], "s--", color=COLOURS["p50"], label="p50")
    times.plot(xs, [v if v is not None else float("nan") for v in p95], "s--", color=COLOURS["p95"], label="p95")
    times.set_ylabel("time to quorum (s)")
    rates.legend(loc="center left")
    rates.set_title(f"Byzantine sweep: n = {sweep['nodes']}, quorum {sweep['quorum_threshold']}")
    image = io.BytesIO()  # rendered whole first, then swapped in: a reader never sees half a PNG
    try:
        figure.savefig(image, format="png", dpi=120, bbox_inches="tight")
    finally:
        pyplot.close(figure)
    atomic_write(path, image.getvalue(), mode=0o644)
    return path
