"""Cli: the ``decisions`` command. Check, test, explain and diff rulesets (``main``); draws and
pools (``draws``); serve, migrate, verify and export the log, tokens (``ops``)."""

from .main import main

__all__ = ["main"]
