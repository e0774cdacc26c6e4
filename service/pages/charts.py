"""Charts for the pages, drawn on the server as inline SVG: readable without JavaScript, printed
with the page, and described in text for screen readers (``role="img"``, a ``<title>`` and a
``<desc>``). Every chart sits beside a table that holds the same numbers.

No Flask here: a chart is a function of numbers and of the texts (already translated) it shows.
Every text is escaped; the SVG has no script, no style element and no external reference.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Colours chosen for contrast on white (WCAG AA for text, 3:1 at least for shapes).
BAR = "#1f5fa8"
BAR_OTHER = "#8fb3dc"
MARK = "#b3261e"
AXIS = "#3c3c3c"
TEXT = "#1b1b1b"
_ids = itertools.count(1)


@dataclass(frozen=True)
class Bin:
    low: int
    high: int  # inclusive
    count: int
    extra: int = 0  # a second series stacked on top (drawn lighter), e.g. not invited
    name: str = ""  # a label of its own (an open-ended bin: "≥ 500")

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return str(self.low) if self.low == self.high else f"{self.low}–{self.high}"


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _open(width: int, height: int, title: str, desc: str, css_class: str) -> tuple[str, str]:
    n = next(_ids)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {css_class}" '
            f'viewBox="0 0 {width} {height}" role="img" '
            f'aria-labelledby="chart-{n}-title chart-{n}-desc" '
            f'font-family="system-ui, sans-serif" font-size="13" fill="{TEXT}">'
            f'<title id="chart-{n}-title">{escape(title)}</title>'
            f'<desc id="chart-{n}-desc">{escape(desc)}</desc>')
    return head, "</svg>"


def bars(items: Sequence[tuple[str, int]], *, title: str, desc: str,
         scale_to: int | None = None) -> Markup:
    """Horizontal bars, one per (label, value), with the value written at the end of each bar.

    ``scale_to`` is the value of a full-length bar (default: the largest value)."""
    label_width, bar_width, row, pad = 330, 380, 28, 8
    width = label_width + bar_width + 70
    height = pad * 2 + row * max(len(items), 1)
    top = max([scale_to or 0] + [v for _, v in items] + [1])
    head, tail = _open(width, height, title, desc, "chart-bars")
    parts = [head]
    for i, (label, value) in enumerate(items):
        y = pad + i * row
        length = bar_width * max(value, 0) / top
        text = label if len(label) <= 48 else label[:47] + "…"
        parts.append(f'<text x="{label_width - 8}" y="{y + row / 2 + 4:.1f}" '
                     f'text-anchor="end">{escape(text)}</text>')
        parts.append(f'<rect x="{label_width}" y="{y + 5}" width="{_fmt(length)}" '
                     f'height="{row - 10}" fill="{BAR}"/>')
        parts.append(f'<text x="{_fmt(label_width + length + 6)}" y="{y + row / 2 + 4:.1f}" '
                     f'font-weight="bold">{escape(str(value))}</text>')
    parts.append(f'<line x1="{label_width}" y1="{pad}" x2="{label_width}" '
                 f'y2="{height - pad}" stroke="{AXIS}"/>')
    parts.append(tail)
    return Markup("".join(parts))


def histogram(bins: Sequence[Bin], *, title: str, desc: str, x_label: str, y_label: str,
              marker: int | None = None, marker_label: str = "",
              series: tuple[str, str] | None = None) -> Markup:
    """Vertical bars, one per bin, with counts on top, an optional vertical marker line (a cutoff,
    or no change) at the bin holding ``marker``, and an optional legend for two stacked series."""
    left, right, top_pad = 56, 16, 44
    bottom = 58 + (24 if series else 0)
    plot_w, plot_h = 720, 220
    width, height = left + plot_w + right, top_pad + plot_h + bottom
    n = max(len(bins), 1)
    step = plot_w / n
    peak = max([b.count + b.extra for b in bins] + [1])
    head, tail = _open(width, height, title, desc, "chart-histogram")
    parts = [head]
    base = top_pad + plot_h
    # y axis with a few round ticks
    tick = _nice_step(peak)
    value = 0
    while value <= peak:
        y = base - plot_h * value / peak
        parts.append(f'<line x1="{left - 4}" y1="{_fmt(y)}" x2="{left + plot_w}" y2="{_fmt(y)}" '
                     f'stroke="#d0d0d0"/>')
        parts.append(f'<text x="{left - 8}" y="{_fmt(y + 4)}" text-anchor="end">{value}</text>')
        value += tick
    # the marker first, so that the bars stand in front of it
    if marker is not None and bins:
        index = next((i for i, b in enumerate(bins) if b.low <= marker <= b.high), None)
        if index is not None:
            b = bins[index]
            within = (marker - b.low + 0.5) / (b.high - b.low + 1)
            x = left + (index + within) * step
            parts.append(f'<line x1="{_fmt(x)}" y1="{top_pad - 22}" x2="{_fmt(x)}" y2="{base}" '
                         f'stroke="{MARK}" stroke-width="2.5" stroke-dasharray="6 3"/>')
            anchor = "end" if x > left + plot_w * 0.6 else "start"
            dx = -6 if anchor == "end" else 6
            parts.append(f'<text x="{_fmt(x + dx)}" y="{top_pad - 26}" text-anchor="{anchor}" '
                         f'fill="{MARK}" font-weight="bold">{escape(marker_label)}</text>')
    label_every = max(1, math.ceil(n / 12))
    for i, b in enumerate(bins):
        x = left + i * step
        w = max(step - 2, 1)
        h_main = plot_h * b.count / peak
        h_extra = plot_h * b.extra / peak
        if b.count:
            parts.append(f'<rect x="{_fmt(x + 1)}" y="{_fmt(base - h_main)}" width="{_fmt(w)}" '
                         f'height="{_fmt(h_main)}" fill="{BAR}"><title>{escape(b.label)}: '
                         f'{b.count}</title></rect>')
        if b.extra:
            parts.append(f'<rect x="{_fmt(x + 1)}" y="{_fmt(base - h_main - h_extra)}" '
                         f'width="{_fmt(w)}" height="{_fmt(h_extra)}" fill="{BAR_OTHER}">'
                         f'<title>{escape(b.label)}: {b.extra}</title></rect>')
        total = b.count + b.extra
        if total and step >= 18:  # a white halo keeps the count readable across the marker
            parts.append(f'<text x="{_fmt(x + step / 2)}" y="{_fmt(base - h_main - h_extra - 4)}" '
                         f'text-anchor="middle" font-size="11" stroke="#fff" stroke-width="3" '
                         f'paint-order="stroke">{total}</text>')
        if i % label_every == 0:
            parts.append(f'<text x="{_fmt(x + step / 2)}" y="{base + 16}" text-anchor="middle" '
                         f'font-size="11">'
                         f'{escape(b.name or (b.label if b.low == b.high else str(b.low)))}'
                         f'</text>')
    parts.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" '
                 f'stroke="{AXIS}"/>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{base + 40}" text-anchor="middle">'
                 f'{escape(x_label)}</text>')
    parts.append(f'<text x="14" y="{top_pad + plot_h / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top_pad + plot_h / 2})">{escape(y_label)}</text>')
    if series:
        y = height - 12
        parts.append(f'<rect x="{left}" y="{y - 10}" width="12" height="12" fill="{BAR}"/>'
                     f'<text x="{left + 18}" y="{y}">{escape(series[0])}</text>'
                     f'<rect x="{left + 260}" y="{y - 10}" width="12" height="12" '
                     f'fill="{BAR_OTHER}"/><text x="{left + 278}" y="{y}">{escape(series[1])}'
                     f'</text>')
    parts.append(tail)
    return Markup("".join(parts))


def _nice_step(peak: int) -> int:
    """A round tick step giving 2 to 5 ticks up to ``peak``."""
    raw = max(peak / 4, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return max(int(factor * magnitude), 1)
    return int(10 * magnitude)


def shift_bins(values: Sequence[int], *, max_bins: int = 31) -> list[tuple[int, int, int]]:
    """Bins for score shifts (low, high, count): one bin for 0 (no change) alone, and bins of
    one round width below and above it, so that "no change" is never mixed with a small move."""
    low = min([v for v in values if v < 0], default=0)
    high = max([v for v in values if v > 0], default=0)
    side = max(1, (max_bins - 1) // 2)
    span = max(-low, high)
    width = 1 if span <= side else _nice_width(math.ceil(span / side))
    edges = [(-i * width, -(i - 1) * width - 1) for i in range(math.ceil(-low / width), 0, -1)]
    edges.append((0, 0))
    edges += [((i - 1) * width + 1, i * width) for i in range(1, math.ceil(high / width) + 1)]
    out = []
    for a, b in edges:
        out.append((a, b, sum(1 for v in values if a <= v <= b)))
    return out


def _nice_width(raw: int) -> int:
    for width in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if width >= raw:
            return width
    return raw
