"""The inference request contract, derived from the event contract.

`POST /v1/predict` takes `{"instances": [ {<feature>: <value>, ...}, ... ]}` with the
event contract's canonical feature names and units. API Gateway validates requests
against :func:`request_schema` (JSON Schema draft 4) before the Lambda runs; the
Lambda applies the same rules with :func:`validate_instances` so it can name every
invalid field, and so direct invocations are held to the same contract.
"""

from __future__ import annotations

import math
from typing import Any

from contracts import Contract, Field

MAX_STRING_LENGTH = 64


def _feature_schema(f: Field) -> dict[str, Any]:
    if f.is_numeric:
        return {
            "type": f.type,
            "minimum": f.min,
            "maximum": f.max,
            "description": f"{f.description} Unit: {f.unit or 'count'}.",
        }
    if f.type == "ordinal":
        return {
            "type": "string",
            "enum": sorted({*f.mapping, *(k.lower() for k in f.mapping)}),
            "description": f.description,
        }
    return {"type": "string", "minLength": 1, "maxLength": MAX_STRING_LENGTH, "description": f.description}


def request_schema(contract: Contract, *, max_batch_size: int) -> dict[str, Any]:
    """JSON Schema (draft 4, as API Gateway models require) of a prediction request."""
    features = contract.features
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "PredictRequest",
        "type": "object",
        "additionalProperties": False,
        "required": ["instances"],
        "properties": {
            "instances": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_batch_size,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [f.name for f in features if f.required_for_inference],
                    "properties": {f.name: _feature_schema(f) for f in features},
                },
            }
        },
    }


def _field_error(f: Field, value: Any) -> str | None:
    """Why `value` is not acceptable for feature `f`, or None when it is."""
    if f.is_numeric:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be {'an integer' if f.type == 'integer' else 'a number'}"
        if not math.isfinite(value):
            return "must be finite"
        if f.type == "integer" and not float(value).is_integer():
            return "must be an integer"
        if (f.min is not None and value < f.min) or (f.max is not None and value > f.max):
            return f"must be between {f.min:g} and {f.max:g} {f.unit or ''}".rstrip()
        return None
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if len(value) > MAX_STRING_LENGTH:
        return f"must be at most {MAX_STRING_LENGTH} characters"
    if f.type == "ordinal" and value.strip().upper() not in f.mapping:
        return f"must be one of {sorted(f.mapping)}"
    return None


def validate_instances(contract: Contract, body: Any, *, max_batch_size: int) -> list[dict[str, str]]:
    """Every problem of a parsed request body, as `{"field": path, "error": message}`."""
    if not isinstance(body, dict):
        return [{"field": "$", "error": "must be a JSON object with an 'instances' array"}]
    errors = [{"field": key, "error": "unknown field"} for key in body if key != "instances"]
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        return [*errors, {"field": "instances", "error": "must be a non-empty array"}]
    if len(instances) > max_batch_size:
        return [*errors, {"field": "instances", "error": f"must hold at most {max_batch_size} instances"}]
    features = {f.name: f for f in contract.features}
    for i, instance in enumerate(instances):
        where = f"instances[{i}]"
        if not isinstance(instance, dict):
            errors.append({"field": where, "error": "must be an object"})
            continue
        errors += [{"field": f"{where}.{key}", "error": "unknown field"} for key in instance if key not in features]
        for name, f in features.items():
            if name not in instance or instance[name] is None:
                if f.required_for_inference:
                    errors.append({"field": f"{where}.{name}", "error": "is required"})
                continue
            problem = _field_error(f, instance[name])
            if problem:
                errors.append({"field": f"{where}.{name}", "error": problem})
    return errors
