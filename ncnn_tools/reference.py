"""NCNN's own benchmark models (param-only) and their published latencies, shipped with edgebench."""

from __future__ import annotations

from pathlib import Path

REFERENCE_DIR = Path(__file__).parent / "reference_models"
PUBLISHED_LATENCY_CSV = REFERENCE_DIR / "published_latency.csv"
