"""Decisions: the explained decision. Run a ruleset's chain in the engine, tally scores with their
caps, settle each requirement (with its why-not tree) and the outcome; write the texts a person
reads where a decision is read, and localise them; decide in this process or in a supervised
engine process (the deciders); and find the smallest declared changes of the facts that change
an outcome (what_would_change)."""

from .decide import decide, tally
from .deciders import InlineDecider, ProcessDecider, Reduce, Request
from .texts import (
    NO_TEXTS,
    TextSource,
    catalog_texts,
    localized,
    why_nots,
    with_texts,
    without_texts,
)
from .what_would_change import Limits, what_would_change
from .why_not import because_text

__all__ = ["NO_TEXTS", "InlineDecider", "Limits", "ProcessDecider", "Reduce", "Request",
           "TextSource", "because_text", "catalog_texts", "decide", "localized", "tally",
           "what_would_change", "why_nots", "with_texts", "without_texts"]
