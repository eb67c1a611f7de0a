"""Small server-side SVG drawings (no JavaScript, no CDN: the page works offline)."""

from __future__ import annotations

from html import escape

STATUS_COLOURS = {"Succeeded": "#2e7d32", "Failed": "#c62828", "Executing": "#1565c0", "NotExecuted": "#9e9e9e",
                  "Pending": "#bdbdbd", "Stopped": "#ef6c00"}


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def pipeline_dag(steps: list[dict]) -> str:
    """Steps as boxes in dependency levels, coloured by status, with edges from each dependency."""
    level: dict[str, int] = {}
    for step in steps:  # records are in dependency order
        level[step["name"]] = 1 + max((level[d] for d in step["depends_on"] if d in level), default=-1)
    columns: dict[int, list[str]] = {}
    for step in steps:
        columns.setdefault(level[step["name"]], []).append(step["name"])
    width, height, gap_x, gap_y = 210, 54, 50, 24
    position = {name: (20 + col * (width + gap_x), 20 + row * (height + gap_y))
                for col, names in columns.items() for row, name in enumerate(names)}
    total_w = 40 + len(columns) * (width + gap_x)
    total_h = 40 + max(len(n) for n in columns.values()) * (height + gap_y)
    # scales down to the page's width (a seven-step run is wider than a laptop screen), never up
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" class="dag" '
             f'viewBox="0 0 {total_w} {total_h}" style="max-width:100%;height:auto">']
    for step in steps:
        x2, y2 = position[step["name"]]
        for dependency in step["depends_on"]:
            if dependency in position:
                x1, y1 = position[dependency]
                parts.append(f'<line x1="{x1 + width}" y1="{y1 + height / 2}" x2="{x2}" y2="{y2 + height / 2}" '
                             'stroke="#555" stroke-width="1.5" marker-end="url(#arrow)"/>')
    parts.insert(1, '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto">'
                    '<path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>')
    for step in steps:
        x, y = position[step["name"]]
        colour = STATUS_COLOURS.get(step["status"], "#757575")
        seconds = f" {step['seconds']:.1f} s" if step.get("seconds") is not None else ""
        parts.append(f'<g class="step" data-step="{escape(step["name"])}" data-status="{escape(step["status"])}">'
                     f'<rect x="{x}" y="{y}" width="{width}" height="{height}" rx="8" fill="{colour}"/>'
                     f'<text x="{x + 8}" y="{y + 22}" fill="white" font-size="12" font-weight="bold">'
                     f'{escape(_fit(step["name"], 28))}</text>'
                     f'<text x="{x + 8}" y="{y + 42}" fill="white" font-size="11">{escape(step["status"])}{seconds}'
                     '</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(points: list[tuple[int, float]], label: str = "accuracy") -> str:
    """Accuracy over model versions."""
    if not points:
        return "<p>No versions with metrics yet.</p>"
    width, height, pad = 420, 160, 30
    xs = [p[0] for p in points]
    low = min(min(p[1] for p in points) - 0.05, 0.5)
    span_x = max(max(xs) - min(xs), 1)

    def scale(version: int, value: float) -> tuple[float, float]:
        return (pad + (version - min(xs)) / span_x * (width - 2 * pad),
                height - pad - (value - low) / (1.0 - low) * (height - 2 * pad))

    coords = [scale(v, a) for v, a in points]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#1565c0"><title>v{v}: {a:.4f}</title></circle>'
                   f'<text x="{x:.1f}" y="{height - 8}" font-size="11" text-anchor="middle">v{v}</text>'
                   for (x, y), (v, a) in zip(coords, points, strict=True))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" class="chart">'
            f'<text x="4" y="14" font-size="11">{escape(label)} (axis {low:.2f}-1.00)</text>'
            f'<polyline points="{path}" fill="none" stroke="#1565c0" stroke-width="2"/>{dots}</svg>')


SERIES_COLOURS = ("#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a")


Series = list[tuple[str, list[tuple[float, float]]]]


def xy_chart(series: Series, title: str, x_label: str, y_range: tuple[float, float], diagonal: bool = False,
             width: int = 360, height: int = 220) -> str:
    """Lines with dots, one colour per named series, on a fixed y range (an optional y = x diagonal)."""
    series = [(name, points) for name, points in series if points]
    if not series:
        return f"<p>{escape(title)}: no data.</p>"
    pad = 36
    xs = [x for _, points in series for x, _ in points]
    x_low, x_high = (0.0, 1.0) if diagonal else (min(xs), max(max(xs), min(xs) + 1))
    y_low, y_high = y_range

    def at(x: float, y: float) -> tuple[float, float]:
        return (pad + (x - x_low) / (x_high - x_low) * (width - 2 * pad),
                height - pad - (min(max(y, y_low), y_high) - y_low) / (y_high - y_low) * (height - 2 * pad))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" class="chart" '
             f'data-title="{escape(title)}">',
             f'<text x="4" y="14" font-size="12" font-weight="bold">{escape(title)}</text>',
             f'<rect x="{pad}" y="{pad}" width="{width - 2 * pad}" height="{height - 2 * pad}" fill="none" '
             'stroke="#ccc"/>',
             f'<text x="{width / 2}" y="{height - 6}" font-size="11" text-anchor="middle">{escape(x_label)}</text>',
             f'<text x="2" y="{pad + 4}" font-size="10">{y_high:g}</text>',
             f'<text x="2" y="{height - pad}" font-size="10">{y_low:g}</text>']
    if diagonal:
        (x1, y1), (x2, y2) = at(0, 0), at(1, 1)
        parts.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#999" stroke-dasharray="4 3"/>')
    for index, (name, points) in enumerate(series):
        colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        coords = [at(x, y) for x, y in points]
        parts.append(f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in coords)}" fill="none" '
                     f'stroke="{colour}" stroke-width="2"/>')
        parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{escape(name)}: '
                     f'{px:g}, {py:.3f}</title></circle>' for (x, y), (px, py) in zip(coords, points, strict=True))
        parts.append(f'<text x="{width - pad - 4}" y="{pad + 14 + 14 * index}" font-size="11" text-anchor="end" '
                     f'fill="{colour}" class="legend">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def reliability_chart(tables: list[tuple[str, list[dict]]]) -> str:
    """Accuracy against confidence per bin (bins with images only), beside the diagonal of perfect calibration."""
    series = [(name, [(row["confidence"], row["accuracy"]) for row in rows if row.get("count")])
              for name, rows in tables]
    return xy_chart(series, "Reliability (accuracy per confidence bin)", "confidence", (0.0, 1.0), diagonal=True)


def curves_chart(histories: list[tuple[str, list[dict]]], key: str, title: str, y_range: tuple[float, float]) -> str:
    """One per-epoch training curve (``key`` of each history row) per version."""
    series = [(name, [(row["epoch"], row[key]) for row in history if row.get(key) is not None])
              for name, history in histories]
    return xy_chart(series, title, "epoch", y_range)
