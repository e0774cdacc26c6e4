"""Benchmarks: `python -m bench` runs every section and writes docs/benchmarks.md."""

from __future__ import annotations

import json
from pathlib import Path


def print_section(results: dict, json_path: str | None) -> None:
    """What a section run on its own (`python -m bench.api`, ...) shows: its Markdown, and its
    figures as JSON when asked."""
    print(results["markdown"])
    if json_path:
        Path(json_path).write_text(json.dumps({k: v for k, v in results.items()
                                               if k != "markdown"}, indent=1))
