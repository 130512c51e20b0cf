"""The predict function reads its statistics file at import: point it at the built model's."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("STATISTICS_FILE", str(ROOT / "model" / "feature_statistics.json"))
os.environ.setdefault("ENDPOINT_NAME", "housing-endpoint")
os.environ.setdefault("MAX_BATCH_SIZE", "10")
os.environ.setdefault("MAX_BODY_BYTES", "65536")
