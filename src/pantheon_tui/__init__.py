"""Pantheon control room (Textual)."""
