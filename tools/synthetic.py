"""Deterministic synthetic housing events that follow the event contract.

One generator feeds the producer, the Glue benchmarks and the model builder, so the
model is trained on the same distribution the pipeline ingests. The same seed always
yields the same events. `dirty=True` mixes in what real producers send: duplicates,
missing values, unseen categories, alternative units and out-of-range values.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import contracts

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
BASE_PRICE_PER_M2 = {"apartment": 4200.0, "condo": 3900.0, "detached": 3100.0, "townhouse": 3500.0}


def price_of(event: dict[str, Any]) -> float:
    """The ground-truth price formula the model learns (plus noise added by the caller)."""
    garden = contracts.load().field("garden_size").mapping[event["garden_size"]]
    per_m2 = BASE_PRICE_PER_M2.get(event["home_type"], 3000.0)
    age = 2026 - event["year_built"]
    return float(
        event["living_area"] * per_m2
        + event["lot_area"] * 40.0
        + event["bedrooms"] * 12000.0
        + event["bathrooms"] * 9000.0
        + garden * 2500.0
        - age * 450.0
        - event["distance_to_center"] * 2800.0
    )


def measured(value: float, digits: int, rounded: bool) -> float:
    """A measurement as listings usually give it (``digits`` decimals), or at full precision."""
    return round(value, digits) if rounded else value


def clean_event(rng: random.Random, index: int, *, rounded: bool = True) -> dict[str, Any]:
    """One valid event in canonical units with its label."""
    home_type = rng.choice(("apartment", "condo", "detached", "townhouse"))
    apartment_like = home_type in ("apartment", "condo")
    living_area = measured(rng.uniform(30, 120) if apartment_like else rng.uniform(70, 400), 1, rounded)
    event: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "event_time": (EPOCH + timedelta(seconds=index * 37 + rng.randrange(0, 30))).isoformat(),
        "home_type": home_type,
        "garden_size": "N" if apartment_like else rng.choice(("S", "M", "L", "N")),
        "living_area": living_area,
        "lot_area": 0.0 if apartment_like else measured(rng.uniform(100, 3000), 1, rounded),
        "bedrooms": max(0, min(20, int(living_area // 35) + rng.randint(-1, 1))),
        "bathrooms": rng.choice((1.0, 1.5, 2.0, 2.5, 3.0)),
        "year_built": rng.randint(1900, 2025),
        "distance_to_center": measured(rng.uniform(0.5, 40.0), 2, rounded),
    }
    noise = rng.gauss(1.0, 0.05)
    event["price"] = round(max(20000.0, price_of(event) * noise), 2)
    return event


def _dirty(rng: random.Random, event: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """Apply one realistic defect to an event (or return a duplicate of the previous one)."""
    defect = rng.randrange(7)
    event = dict(event)
    if defect == 0 and previous is not None:
        duplicate = dict(previous)
        duplicate["event_time"] = event["event_time"]  # a later re-send of the same listing
        return duplicate
    if defect == 1:
        event.pop(rng.choice(("year_built", "living_area", "garden_size", "home_type")))
    elif defect == 2:
        event["home_type"] = rng.choice(("Castle", "houseboat", " Detached "))
    elif defect == 3:
        event["living_area_sqft"] = round(event.pop("living_area") / 0.09290304, 1)
    elif defect == 4:
        event["bedrooms"] = rng.choice((-3, 99, "three"))
    elif defect == 5:
        event.pop("price")
    else:
        event["garden_size"] = rng.choice(("xl", "m", "none"))
    return event


def events(count: int, *, seed: int = 7, dirty: bool = False, rounded: bool = True) -> Iterator[dict[str, Any]]:
    """Yield `count` events; with `dirty`, about one in four carries a defect.

    Areas and distances are rounded as listings give them (0.1 m2, 0.01 km), so a column
    holds a few thousand distinct values however many events there are. ``rounded=False``
    keeps them at full precision, so nearly every value is distinct, as in measured data
    (the same random draws: only the rounding differs).
    """
    rng = random.Random(seed)
    previous: dict[str, Any] | None = None
    for index in range(count):
        event = clean_event(rng, index, rounded=rounded)
        if dirty and rng.random() < 0.25:
            event = _dirty(rng, event, previous)
        previous = event
        yield event
