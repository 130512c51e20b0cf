"""Synthetic raw zones for the ETL benchmark.

Each gzip NDJSON file holds BLOCK_ROWS events from its own seed of the synthetic
generator (dirty: the same defect mix as everywhere else) plus a malformed line every
CORRUPT_EVERY events. Measurements keep full precision (``rounded=False``), so the
number of distinct values grows with the data as it does in measured data: with
rounded values, an exact quantile's memory would stay small however many rows there
are, and the benchmark could not show what bounds it. A raw zone of N rows is the
first N / BLOCK_ROWS files, so one generation serves every size.

An increment for the Glue job's second step is a batch of new events plus late
re-sends of events already in the zone: the same id and values, a day later, with a
corrected price.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tools.synthetic import events

BLOCK_ROWS = 50_000
CORRUPT_EVERY = 10_000
ZONE_SEED = 1_000
BATCH_SEED = 500_000
RESEND_EVERY = 10
MALFORMED = "{not json"


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def block(seed: int, rows: int = BLOCK_ROWS) -> list[str]:
    """``rows`` dirty events at full precision, then the malformed lines."""
    lines = [json.dumps(e) for e in events(rows, seed=seed, dirty=True, rounded=False)]
    return lines + [MALFORMED] * (rows // CORRUPT_EVERY)


def _write_block(args: tuple[Path, int]) -> Path:
    path, seed = args
    return write_lines(path, block(seed))


def raw_zone(directory: Path, rows: int, *, processes: int = 2) -> list[Path]:
    """The files of a raw zone of ``rows`` events (a multiple of BLOCK_ROWS), written
    by ``processes`` worker processes."""
    jobs = [(directory / f"part-{i:05d}.json.gz", ZONE_SEED + i) for i in range(rows // BLOCK_ROWS)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        return pool.map(_write_block, jobs)


def resend(line: str, rng: random.Random) -> str | None:
    """A late re-send of the event on ``line``: a day later, with a corrected price."""
    try:
        event: dict[str, Any] = json.loads(line)
    except ValueError:
        return None
    event["event_time"] = (datetime.fromisoformat(event["event_time"]) + timedelta(days=1)).isoformat()
    if "price" in event:
        event["price"] = round(event["price"] * rng.uniform(0.95, 1.05), 2)
    return json.dumps(event)


def increment(directory: Path, zone: list[Path], share: float, *, seed: int = BATCH_SEED) -> list[Path]:
    """A batch of ``share`` times the zone's rows: new events, and every RESEND_EVERY-th
    line a late re-send of an event picked at random from the zone's files."""
    rng = random.Random(seed)
    rows = round(share * len(zone) * BLOCK_ROWS)
    resends = rows // RESEND_EVERY
    picked: list[str] = []
    for index, path in enumerate(zone):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        wanted = resends * (index + 1) // len(zone) - resends * index // len(zone)
        picked += [r for r in (resend(line, rng) for line in rng.sample(lines, wanted)) if r is not None]
    fresh = [line for line in block(seed, rows - len(picked)) if line != MALFORMED]
    lines = fresh + picked
    rng.shuffle(lines)
    return [
        write_lines(directory / f"part-{i:05d}.json.gz", lines[start : start + BLOCK_ROWS])
        for i, start in enumerate(range(0, len(lines), BLOCK_ROWS))
    ]
