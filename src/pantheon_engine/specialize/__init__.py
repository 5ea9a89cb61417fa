"""Learn: turn verified work into training data and train per-agent adapters.

Harvest, search, demonstrations, morning fixes and mining produce the datasets; ``train``
fits an adapter and ``pipeline`` runs harvest → train → eval → promote in one go. Serving a
trained version lives in :mod:`pantheon_engine.run`; see docs/specialize.md.
"""
