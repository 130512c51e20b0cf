"""What the ETL benchmark reads and generates: the JVM's GC log and late re-sends."""

from __future__ import annotations

import json
import random
from typing import Any

from benchmarks.etl_data import MALFORMED, resend
from benchmarks.spark_meter import peak_after_collection

GC_LOG = [
    "[0.512s] Using G1",
    "[3.001s] GC(0) Pause Young (Normal) (G1 Evacuation Pause) 51M->12M(256M) 4.120ms",
    "[7.250s] GC(1) Pause Young (Normal) (G1 Evacuation Pause) 900M->310M(1024M) 9.876ms",
    "[9.900s] GC(2) Pause Full (System.gc()) 1G->1G(1G) 120.1ms",
    "[12.000s] GC(3) Pause Young (Normal) (G1 Evacuation Pause) 400M->2048K(1024M) 3.2ms",
]


def test_peak_heap_is_the_largest_occupancy_after_a_collection_in_the_window() -> None:
    assert peak_after_collection(GC_LOG, 0.0, 8.0) == 310.0
    assert peak_after_collection(GC_LOG, 8.0, 10.0) == 1024.0  # units: G -> MB
    assert peak_after_collection(GC_LOG, 11.0, 13.0) == 2.0  # K -> MB
    assert peak_after_collection(GC_LOG, 13.0, 20.0) is None


def test_a_late_resend_keeps_the_event_and_moves_it_a_day_later() -> None:
    event = {"event_id": "a", "event_time": "2024-01-01T10:00:00+00:00", "price": 100000.0, "living_area": 80.5}
    again = json.loads(resend(json.dumps(event), random.Random(1)) or "{}")
    assert again["event_id"] == "a" and again["living_area"] == 80.5
    assert again["event_time"] == "2024-01-02T10:00:00+00:00"
    assert 95000.0 <= again["price"] <= 105000.0


def test_a_malformed_line_is_not_resent() -> None:
    assert resend(MALFORMED, random.Random(1)) is None


def curve(fixed: float, per_row: dict[int, float]) -> list[Any]:
    """Runs at each size, two each: wall time = a fixed cost + 10 s per million rows (one
    second of noise either way), JVM CPU twice that, task CPU ``per_row[rows]`` seconds
    per million rows."""
    from benchmarks.etl_pipeline import CurvePoint
    from benchmarks.spark_meter import Sample

    def run(rows: int, noise: float) -> Sample:
        wall = fixed + 10.0 * rows / 1e6 + noise
        return Sample(wall, 2 * wall, None, None, per_row[rows] * rows / 1e6 + noise)

    return [CurvePoint(rows, [run(rows, 1.0), run(rows, -1.0)], run(rows, 0), run(rows, 0)) for rows in per_row]


def test_the_curve_splits_fixed_costs_from_the_cost_per_row() -> None:
    from benchmarks.etl_pipeline import linear_costs

    (line,) = linear_costs(curve(5.0, {1_000_000: 20.0, 2_000_000: 20.0, 4_000_000: 20.0}))
    assert line.startswith("Least-squares line through the wall times: 5.0 s + 10.00 s per million rows.")
    assert "10.00, 10.00 s (largest / smallest 1.00)" in line


def test_the_curve_is_judged_on_the_task_cpu_per_row() -> None:
    from benchmarks.etl_pipeline import render_curve, spread

    flat = curve(8.0, {1_000_000: 20.0, 2_000_000: 20.0})  # wall per row 18 then 14: a fixed cost spread
    assert spread(flat, "wall") == 18.0 / 14.0
    assert spread(flat, "task_cpu") == 1.0
    assert "CPU per row: 1.00** (target <= 1.25: within)" in "\n".join(render_curve(flat))
    growing = curve(0.0, {1_000_000: 20.0, 2_000_000: 30.0})
    assert spread(growing, "task_cpu") == 1.5
    assert "CPU per row: 1.50** (target <= 1.25: over)" in "\n".join(render_curve(growing))
