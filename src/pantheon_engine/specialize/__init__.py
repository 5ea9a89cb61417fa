"""Specialisation: turn green work into training data, train per-agent adapters, serve them.

Harvest and mining (this package's ``harvest``, ``search``, ``demos``, ``mine`` and
``secrets`` modules) produce the datasets; see docs/specialize.md.
"""
