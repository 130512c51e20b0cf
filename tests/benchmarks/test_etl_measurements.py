"""What the ETL benchmark reads and generates: the JVM's GC log and late re-sends."""

from __future__ import annotations

import json
import random

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


def test_the_curve_splits_fixed_costs_from_the_cost_per_row() -> None:
    from benchmarks.etl_pipeline import linear_costs
    from benchmarks.spark_meter import Sample

    points = [(rows, Sample(5.0 + 10.0 * rows / 1e6, None, None, None), None, None) for rows in (1e6, 2e6, 4e6, 8e6)]
    (line,) = linear_costs(points)  # type: ignore[arg-type]
    assert line.startswith("Least-squares line through the wall times: 5.0 s + 10.00 s per million rows.")
    assert "10.00, 10.00, 10.00 s (largest / smallest 1.00)" in line
