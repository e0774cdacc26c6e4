"""Draws: rounds of invitations over a pool of candidates (``run``), synthetic pools on a
published score distribution (``pool``), and the plain CRS function the pool generator uses to
aim at a score band (``plain_crs``)."""

from .run import (
    BATCH_SIZE,
    DRAW_ID_PATTERN,
    STATUSES,
    DrawConflictError,
    DrawDefinition,
    DrawError,
    DrawNotFoundError,
    Pool,
    PoolNotFoundError,
    blame,
    default_draw_id,
    definition,
    draw_view,
    parse_lines,
    run_draw,
)

__all__ = ["BATCH_SIZE", "DRAW_ID_PATTERN", "STATUSES", "DrawConflictError", "DrawDefinition",
           "DrawError", "DrawNotFoundError", "Pool", "PoolNotFoundError", "blame",
           "default_draw_id", "definition", "draw_view", "parse_lines", "run_draw"]
