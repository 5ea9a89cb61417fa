"""The control room's screens, one module each."""
