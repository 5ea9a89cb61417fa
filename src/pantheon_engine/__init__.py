"""Pantheon engine: headless core."""
