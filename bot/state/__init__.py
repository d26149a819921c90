"""Everything with a memory: each has a per-process variant and a Redis one, side by side.

The cache and the snapshot store, single-flight and its cross-replica lock, once-only keys, the
API budget, Redis auto-pipelining, and the intake queue (in process, or a Redis stream).
"""
