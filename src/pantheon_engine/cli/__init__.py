"""The commands: the only layer that prints, parses flags and exits; nothing imports it."""
