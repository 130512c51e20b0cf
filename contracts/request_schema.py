"""The inference request contract, derived from the event contract.

`POST /v1/predict` takes `{"instances": [ {<feature>: <value>, ...}, ... ]}` with the
event contract's canonical feature names and units (and optionally the listing's id
field), as `application/json` in UTF-8. API Gateway validates requests
against :func:`request_schema` (JSON Schema draft 4) before the Lambda runs; the
Lambda applies the same rules with :func:`validate_instances` so it can name every
invalid field, and so direct invocations are held to the same contract.
"""

from __future__ import annotations

import math
import re
from typing import Any

from contracts import Contract, Field

MAX_STRING_LENGTH = 64
# The one media type the API takes, matched case-insensitively: JSON, in UTF-8 if a charset is
# named. The WAF rule in front of the API and the predict function both use this pattern.
JSON_CONTENT_TYPE = r'application/json[ \t]*(;[ \t]*charset[ \t]*=[ \t]*("utf-8"|utf-8)[ \t]*)?'
# A valid request nests three levels (object, instances array, instance object); the
# function refuses deeper bodies before parsing them.
MAX_JSON_DEPTH = 8
# An instance may name its listing with the contract's id field. The predict function passes
# a single listing's id to SageMaker as the inference id, which data capture keeps with the
# request (so the captured request can be joined with the listing's later sale price);
# InvokeEndpoint takes 1 to 64 printable ASCII characters there, the first not a space.
INFERENCE_ID_PATTERN = r"^[!-~][ -~]{0,63}$"
INFERENCE_ID_MAX_LENGTH = 64


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


def id_field(contract: Contract) -> Field:
    """The contract's id field, which an instance may carry as its inference id."""
    return next(f for f in contract.fields if f.role == "id")


def _id_schema(f: Field) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": min(INFERENCE_ID_MAX_LENGTH, f.max_length or INFERENCE_ID_MAX_LENGTH),
        "pattern": INFERENCE_ID_PATTERN,
        "description": f"Optional. {f.description} Kept with the captured request when it is the only instance.",
    }


def request_schema(contract: Contract, *, max_batch_size: int) -> dict[str, Any]:
    """JSON Schema (draft 4, as API Gateway models require) of a prediction request."""
    features = contract.features
    identifier = id_field(contract)
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
                    "properties": {
                        identifier.name: _id_schema(identifier),
                        **{f.name: _feature_schema(f) for f in features},
                    },
                },
            }
        },
    }


def _number_check(f: Field) -> Any:
    """A checker for one numeric feature: None when the value is acceptable, else why not."""
    integer = f.type == "integer"
    low, high = f.min, f.max
    kind = "an integer" if integer else "a number"
    out_of_range = f"must be between {low:g} and {high:g} {f.unit or ''}".rstrip()

    def check(value: Any) -> str | None:
        if type(value) is not int and type(value) is not float:
            return f"must be {kind}"
        if not math.isfinite(value):
            return "must be finite"
        if integer and not float(value).is_integer():
            return "must be an integer"
        if (low is not None and value < low) or (high is not None and value > high):
            return out_of_range
        return None

    return check


def _text_check(f: Field) -> Any:
    """A checker for one categorical feature (ordinal values must be known levels)."""
    levels = frozenset(f.mapping) if f.type == "ordinal" else None
    unknown_level = f"must be one of {sorted(f.mapping)}"

    def check(value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return "must be a non-empty string"
        if len(value) > MAX_STRING_LENGTH:
            return f"must be at most {MAX_STRING_LENGTH} characters"
        if levels is not None and value.strip().upper() not in levels:
            return unknown_level
        return None

    return check


def _id_check(f: Field) -> Any:
    """A checker for the optional inference id (the listing's event id)."""
    pattern = re.compile(INFERENCE_ID_PATTERN)
    limit = min(INFERENCE_ID_MAX_LENGTH, f.max_length or INFERENCE_ID_MAX_LENGTH)
    problem = f"must be 1 to {limit} printable ASCII characters, the first not a space"

    def check(value: Any) -> str | None:
        if not isinstance(value, str) or len(value) > limit or not pattern.match(value):
            return problem
        return None

    return check


class RequestValidator:
    """The request rules of one contract and batch limit, prepared once per container."""

    def __init__(self, contract: Contract, *, max_batch_size: int) -> None:
        self.max_batch_size = max_batch_size
        identifier = id_field(contract)
        self.names = frozenset({identifier.name, *(f.name for f in contract.features)})
        # (name, required, numeric, low, high, integer, check): numbers in range take the fast
        # path; anything else goes through `check`, which names the problem.
        self.rules = [
            (
                f.name,
                f.required_for_inference,
                f.is_numeric,
                -math.inf if f.min is None else f.min,
                math.inf if f.max is None else f.max,
                f.type == "integer",
                _number_check(f) if f.is_numeric else _text_check(f),
            )
            for f in contract.features
        ]
        self.rules.append((identifier.name, False, False, 0.0, 0.0, False, _id_check(identifier)))

    def errors(self, body: Any) -> list[dict[str, str]]:
        """Every problem of a parsed request body, as `{"field": path, "error": message}`."""
        if not isinstance(body, dict):
            return [{"field": "$", "error": "must be a JSON object with an 'instances' array"}]
        errors = [{"field": key, "error": "unknown field"} for key in body if key != "instances"]
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances:
            return [*errors, {"field": "instances", "error": "must be a non-empty array"}]
        if len(instances) > self.max_batch_size:
            return [*errors, {"field": "instances", "error": f"must hold at most {self.max_batch_size} instances"}]
        names = self.names
        for i, instance in enumerate(instances):
            if not isinstance(instance, dict):
                errors.append({"field": f"instances[{i}]", "error": "must be an object"})
                continue
            if not names.issuperset(instance):
                errors += [
                    {"field": f"instances[{i}].{key}", "error": "unknown field"} for key in instance if key not in names
                ]
            get = instance.get
            for name, required, numeric, low, high, integer, check in self.rules:
                value = get(name)
                if value is None:
                    if required:
                        errors.append({"field": f"instances[{i}].{name}", "error": "is required"})
                    continue
                kind = type(value)
                if numeric and (kind is int or (kind is float and not integer)) and low <= value <= high:
                    continue
                problem = check(value)
                if problem:
                    errors.append({"field": f"instances[{i}].{name}", "error": problem})
        return errors


def validate_instances(contract: Contract, body: Any, *, max_batch_size: int) -> list[dict[str, str]]:
    """Every problem of a parsed request body (see :class:`RequestValidator`)."""
    return RequestValidator(contract, max_batch_size=max_batch_size).errors(body)
