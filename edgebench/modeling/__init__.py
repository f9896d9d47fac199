"""Modeled latency: exact counts -> a board's milliseconds with an interval (applying and fitting the
per-CPU constants), and counts per NCNN layer type."""
