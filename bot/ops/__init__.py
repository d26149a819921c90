"""Operator commands: `get`, `card` and `doctor`."""
