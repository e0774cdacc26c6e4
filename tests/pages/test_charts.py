"""The server-drawn SVG charts: escaped texts, described for screen readers, bins as promised."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from service.pages import charts
from service.pages.data import pool_bins

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup) -> ET.Element:
    return ET.fromstring(str(markup))


def test_bars_are_an_image_with_a_title_and_escaped_labels():
    svg = parse(charts.bars([("A <b>&", 394), ("B", 0)], title="CRS & co", desc="A: 394; B: 0"))
    assert svg.get("role") == "img"
    title_id, desc_id = svg.get("aria-labelledby").split()
    assert svg.find(f"{SVG}title").text == "CRS & co" and svg.find(f"{SVG}title").get(
        "id") == title_id
    assert svg.find(f"{SVG}desc").get("id") == desc_id
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "A <b>&" in texts and "394" in texts
    assert not list(svg.iter(f"{SVG}script")) and "<b>" not in str(charts.bars(
        [("<b>", 1)], title="t", desc="d")).replace("&lt;b&gt;", "")


def test_the_histogram_marks_the_cutoff_and_names_both_series():
    bins = [charts.Bin(430, 439, 0, 12), charts.Bin(440, 449, 3, 15), charts.Bin(450, 459, 0, 2)]
    svg = parse(charts.histogram(bins, title="Pool", desc="d", x_label="score",
                                 y_label="candidates", marker=444, marker_label="cutoff 444",
                                 series=("invited", "not invited")))
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "cutoff 444" in texts and "invited" in texts and "not invited" in texts
    assert "18" in texts  # the count on top of the stacked bar
    dashed = [line for line in svg.iter(f"{SVG}line") if line.get("stroke-dasharray")]
    assert len(dashed) == 1
    x = float(dashed[0].get("x1"))
    assert 56 + 720 / 3 < x < 56 + 2 * 720 / 3  # inside the 440-449 bar


def test_shift_bins_keep_no_change_apart():
    assert charts.shift_bins([0, 0, -3, 2]) == [(-3, -3, 1), (-2, -2, 0), (-1, -1, 0),
                                                (0, 0, 2), (1, 1, 0), (2, 2, 1)]
    wide = charts.shift_bins([-200] * 10 + [-50] * 8 + [0] * 160)
    assert (0, 0, 160) in wide and sum(c for _, _, c in wide) == 178
    assert all(b - a + 1 == 20 for a, b, _ in wide if (a, b) != (0, 0))
    assert charts.shift_bins([5, 5]) == [(0, 0, 0), (1, 1, 0), (2, 2, 0), (3, 3, 0), (4, 4, 0),
                                         (5, 5, 2)]


def test_pool_bins_split_invited_from_the_others():
    counts = [(444, "invited", 3), (441, "ineligible", 5), (458, "below_cutoff", 1),
              (301, "ineligible", 2)]
    bins = pool_bins(counts, tails=0)
    assert bins[0] == (300, 309, 0, 2, "") and (440, 449, 3, 5, "") in bins
    assert (450, 459, 0, 1, "") in bins and len(bins) == 16


def test_pool_bins_gather_far_outliers_but_never_the_cutoff():
    counts = [(score, "ineligible", 10) for score in range(300, 500, 5)] + [
        (951, "ineligible", 1), (120, "ineligible", 1), (444, "invited", 3)]
    bins = pool_bins(counts, cutoff=444)
    assert bins[0] == (120, 299, 0, 1, "< 300") and bins[-1] == (500, 951, 0, 1, "≥ 500")
    assert sum(b[2] + b[3] for b in bins) == 40 * 10 + 2 + 3
    far = pool_bins([(300, "ineligible", 1000), (444, "invited", 1)], cutoff=700)
    assert any(low <= 700 <= high and not name for low, high, _, _, name in far)
