"""The tool loop: the reply envelope, the grammar that keeps replies valid, and the traces."""
