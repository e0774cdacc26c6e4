"""Decisions: the explained decision. Run a ruleset's chain in the engine, tally scores with their
caps, settle each requirement (with why not) and the outcome; fill in and localise the texts a
person reads; and decide in this process or in a supervised engine process (the deciders)."""

from .decide import decide, tally
from .deciders import InlineDecider, ProcessDecider, Reduce, Request
from .texts import TextsOf, catalog_texts, localized, with_texts, without_texts
from .why_not import because_text

__all__ = ["InlineDecider", "ProcessDecider", "Reduce", "Request", "TextsOf", "because_text",
           "catalog_texts", "decide", "localized", "tally", "with_texts", "without_texts"]
