"""The event contract and feature definition that every part of the pipeline reads.

`housing_event.json` beside this file is the single source of truth. The stacks,
the Firehose transform Lambda, the Glue transforms, the inference Lambda and the
tools all load it through :func:`load`; Lambda and Glue assets receive this package
at synth time (local bundling / a Glue extra Python file), never a hand-kept copy.

Only the standard library is used so the package runs unchanged in Lambda and Glue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

CONTRACT_FILE = "housing_event.json"
NUMERIC_TYPES = ("number", "integer")
OTHER_CATEGORY = "other"


@dataclass(frozen=True)
class Field:
    """One field of the event: its type, role (id/time/feature/label) and rules."""

    name: str
    type: str
    role: str
    required: bool = False
    description: str = ""
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    aliases: dict[str, float] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    mapping: dict[str, int] = field(default_factory=dict)
    normalise: str | None = None
    missing_strategy: str | None = None
    missing_value: Any = None
    flag_missing: bool = False
    unseen: str | None = None
    inference: str | None = None

    @property
    def required_for_inference(self) -> bool:
        return self.inference == "required"

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @property
    def one_hot_columns(self) -> tuple[str, ...]:
        """Columns a nominal field expands to: one per category plus `<name>_other`."""
        return tuple(f"{self.name}_{c}" for c in (*self.categories, OTHER_CATEGORY))


@dataclass(frozen=True)
class Contract:
    """The whole event contract, with the derived feature layout."""

    name: str
    version: int
    description: str
    partition_keys: tuple[str, ...]
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def features(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.role == "feature")

    @property
    def numeric_features(self) -> tuple[Field, ...]:
        return tuple(f for f in self.features if f.is_numeric)

    @property
    def ordinal_features(self) -> tuple[Field, ...]:
        return tuple(f for f in self.features if f.type == "ordinal")

    @property
    def nominal_features(self) -> tuple[Field, ...]:
        return tuple(f for f in self.features if f.type == "nominal")

    @property
    def flagged_features(self) -> tuple[Field, ...]:
        return tuple(f for f in self.features if f.flag_missing)

    @property
    def label(self) -> Field:
        return next(f for f in self.fields if f.role == "label")

    @property
    def aliases(self) -> dict[str, tuple[str, float]]:
        """Alias field name -> (canonical field name, factor to the canonical unit)."""
        return {a: (f.name, factor) for f in self.fields for a, factor in f.aliases.items()}

    def feature_columns(self) -> list[str]:
        """The encoded feature vector, in the order the model is trained and invoked with.

        Scaled numeric features, then ordinal values, then missing-value flags, then
        the one-hot columns of each nominal feature. Training CSV rows are the label
        followed by these columns; the inference API sends exactly these columns.
        """
        columns = [f.name for f in self.numeric_features]
        columns += [f.name for f in self.ordinal_features]
        columns += [f"{f.name}_missing" for f in self.flagged_features]
        for f in self.nominal_features:
            columns += list(f.one_hot_columns)
        return columns


def _field(name: str, spec: dict[str, Any]) -> Field:
    missing = spec.get("missing", {})
    return Field(
        name=name,
        type=spec["type"],
        role=spec["role"],
        required=bool(spec.get("required", False)),
        description=spec.get("description", ""),
        unit=spec.get("unit"),
        min=spec.get("min"),
        max=spec.get("max"),
        max_length=spec.get("max_length"),
        aliases=dict(spec.get("aliases", {})),
        categories=tuple(spec.get("categories", ())),
        mapping=dict(spec.get("mapping", {})),
        normalise=spec.get("normalise"),
        missing_strategy=missing.get("strategy"),
        missing_value=missing.get("value"),
        flag_missing=bool(missing.get("flag", False)),
        unseen=spec.get("unseen"),
        inference=spec.get("inference"),
    )


def parse(document: dict[str, Any]) -> Contract:
    """Build a :class:`Contract` from the JSON document (also used by tests)."""
    return Contract(
        name=document["name"],
        version=int(document["version"]),
        description=document.get("description", ""),
        partition_keys=tuple(document["partition_keys"]),
        fields=tuple(_field(n, s) for n, s in document["fields"].items()),
    )


def contract_text() -> str:
    """The raw JSON text of the contract (what assets carry byte for byte)."""
    return resources.files(__package__).joinpath(CONTRACT_FILE).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def load() -> Contract:
    """The contract, parsed once per process."""
    return parse(json.loads(contract_text()))
