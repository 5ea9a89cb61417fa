"""Learn: turn verified work into training data and train per-agent adapters.

Harvest, search, demonstrations, morning fixes and mining produce the datasets; ``train``
fits an adapter and ``pipeline`` runs harvest → train → eval → promote in one go. Serving a
trained version lives in :mod:`pantheon_engine.run`; see docs/specialize.md.
"""

# Here, not in .harvesting, so that the command line reads them without loading the harvest.
HARVEST_MODES = ("best-of-k", "search", "feedback", "demos", "import")
"""The ways ``pantheon harvest`` gets green examples (see :mod:`.harvest`)."""
BEST_OF_K_CONCURRENCY = 32
"""Best-of-k runs at once when no concurrency is given."""
SEARCH_CONCURRENCY = 4
"""Tasks searched at once when no concurrency is given (each has k samples in flight)."""
DEFAULT_FEEDBACK_ROUNDS = 2
"""Feedback rounds per sample of ``--mode feedback`` when none is given."""
DEFAULT_MAX_NO_WORK_SHARE = 0.25
"""The largest share of a harvest's examples tasks that needed no work may give."""
