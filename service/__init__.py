"""Explained rules-engine decisions for Express Entry and OINP selection.

The core (rulesets, conditions, engine, decisions) imports no Flask; the web layer is built by
``create_app`` on top of it.
"""
