"""Reviewers are measured, not trusted: canaries (known-answer review items) mixed into
the review stream, and a ledger of how each reviewer does on them."""

from pantheon_engine.night.reviewing.canary import Canary, CanarySource, load_canaries
from pantheon_engine.night.reviewing.ledger import GateConfig, ReviewerLedger

__all__ = ["Canary", "CanarySource", "GateConfig", "ReviewerLedger", "load_canaries"]
