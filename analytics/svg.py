"""Tiny inline-SVG charts for the HTML report: no JavaScript, no fonts or scripts fetched."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

W, H = 720, 240
PAD_L, PAD_R, PAD_T, PAD_B = 64, 16, 16, 36


def _money(v: float) -> str:
    return f"${v:,.0f}" if abs(v) >= 100 else f"${v:,.2f}"


def _y_axis(vmax: float) -> tuple[list[str], float]:
    vmax = vmax if vmax > 0 else 1.0
    parts = []
    for i in range(5):
        v = vmax * i / 4
        y = PAD_T + (H - PAD_T - PAD_B) * (1 - i / 4)
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{_money(v)}</text>')
    return parts, vmax


def _svg(body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" role="img" '
            f'aria-label="{escape(title)}" font-family="sans-serif"><title>{escape(title)}</title>'
            + "".join(body) + "</svg>")


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str,
              highlight: Sequence[bool] | None = None) -> str:
    """Vertical bars (daily spend); highlighted bars are drawn in red."""
    parts, vmax = _y_axis(max(values, default=0.0))
    n = max(len(values), 1)
    slot = (W - PAD_L - PAD_R) / n
    plot_h = H - PAD_T - PAD_B
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * (v / vmax)
        x = PAD_L + i * slot + slot * 0.1
        color = "#dc2626" if highlight and highlight[i] else "#2563eb"
        parts.append(f'<rect x="{x:.1f}" y="{PAD_T + plot_h - h:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}" '
                     f'fill="{color}"><title>{escape(label)}: {_money(v)}</title></rect>')
        if n <= 16 or i % max(1, n // 12) == 0:
            parts.append(f'<text x="{x + slot * 0.4:.1f}" y="{H - PAD_B + 14}" text-anchor="middle" '
                         f'font-size="10">{escape(label)}</text>')
    return _svg(parts, title)


def line_chart(series: Sequence[tuple[str, Sequence[tuple[float, float]], str, bool]], x_max: float,
               title: str, x_labels: Sequence[tuple[float, str]] = ()) -> str:
    """Lines over x in [0, x_max]: series are (name, [(x, y)], color, dashed)."""
    ys = [y for _, pts, _, _ in series for _, y in pts]
    parts, vmax = _y_axis(max(ys, default=0.0))
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def xy(x: float, y: float) -> str:
        return f"{PAD_L + plot_w * (x / x_max if x_max else 0):.1f},{PAD_T + plot_h * (1 - y / vmax):.1f}"

    for x, label in x_labels:
        parts.append(f'<text x="{xy(x, 0).split(",")[0]}" y="{H - PAD_B + 14}" text-anchor="middle" '
                     f'font-size="10">{escape(label)}</text>')
    legend_x = PAD_L + 8
    for name, pts, color, dashed in series:
        if not pts:
            continue
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        points = " ".join(xy(x, y) for x, y in pts)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        parts.append(f'<text x="{legend_x}" y="{PAD_T + 12}" font-size="11" fill="{color}">{escape(name)}</text>')
        legend_x += 9 * len(name) + 24
    return _svg(parts, title)


def hbar_chart(labels: Sequence[str], values: Sequence[float], title: str) -> str:
    """Horizontal bars (spend by model)."""
    n = max(len(values), 1)
    row = 22
    height = PAD_T + n * row + 8
    vmax = max(values, default=0.0) or 1.0
    left = 180
    parts = []
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = PAD_T + i * row
        w = (W - left - 90) * (v / vmax)
        parts.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" font-size="11">{escape(label[:28])}</text>')
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="#2563eb"/>')
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 14}" font-size="11">{_money(v)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="100%" role="img" '
            f'aria-label="{escape(title)}" font-family="sans-serif"><title>{escape(title)}</title>'
            + "".join(parts) + "</svg>")
