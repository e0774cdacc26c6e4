"""Decisions: the explained decision. Run a ruleset's chain in the engine, tally scores with their
caps, settle each requirement (with why not) and the outcome; fill in and localise the texts a
person reads; decide in this process or in a supervised engine process (the deciders); and
find the smallest declared changes of the facts that change an outcome (what_would_change)."""

from .decide import decide, tally
from .deciders import InlineDecider, ProcessDecider, Reduce, Request
from .texts import TextsOf, catalog_texts, localized, with_texts, without_texts
from .what_would_change import Limits, what_would_change
from .why_not import because_text

__all__ = ["InlineDecider", "Limits", "ProcessDecider", "Reduce", "Request", "TextsOf",
           "because_text", "catalog_texts", "decide", "localized", "tally", "what_would_change",
           "with_texts", "without_texts"]
