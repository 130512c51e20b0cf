"""Firehose data-transformation Lambda: validate and normalise housing events.

Firehose hands the function a batch of base64 records read from the Kinesis stream.
Each record is checked against the shared event contract (``contracts``) and either
re-emitted as one line of compact, canonical JSON (``Ok``, with the dynamic-partitioning
keys Firehose needs) or returned untouched as ``ProcessingFailed`` so Firehose writes it
to the error prefix. Nothing is ever ``Dropped`` and a bad record never fails the
invocation: a failed invocation would make Firehose retry the whole batch and finally
route every record, good ones included, to the error prefix.

Unseen categories are kept (the ETL applies the contract's ``unseen`` rule); only data
that cannot be interpreted safely is rejected. The module reads no environment
variables and uses only the standard library plus ``contracts``, which the asset
carries beside this file.
"""

from __future__ import annotations

import binascii
import json
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii
from typing import Any, NoReturn

import contracts

OK = "Ok"
PROCESSING_FAILED = "ProcessingFailed"

# Lambda caps a synchronous response at 6 MB (6,291,456 bytes). The budget leaves room
# for the runtime's own serialisation so a full batch never turns into a failed
# invocation, which Firehose would retry and then send wholesale to the error prefix.
MAX_RESPONSE_BYTES = 6_000_000

# Epoch numbers at or above this magnitude are milliseconds: as seconds they would
# be later than the year 5000.
EPOCH_MILLIS_THRESHOLD = 100_000_000_000
UNKNOWN_PARTITION = "unknown"
MAX_LOGGED_NAME = 64
_KEY_CACHE_LIMIT = 4096
_UNIX_EPOCH = datetime(1970, 1, 1)


class RecordRejected(Exception):
    """A record that cannot be transformed; ``reason`` is its machine-readable class."""

    def __init__(
        self, reason: str, *, detail: str | None = None, errors: dict[str, str] | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.errors = errors or {}


class FieldInvalid(Exception):
    """One field value breaks the contract; ``code`` says how."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _invalid(code: str) -> NoReturn:
    raise FieldInvalid(code)


# ---------------------------------------------------------------------------
# Field-name normalisation
# ---------------------------------------------------------------------------

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[\s_\-]+")


def normalise_name(name: str) -> str:
    """``livingAreaSqft``, ``living-area-sqft`` and ``Living Area Sqft`` -> ``living_area_sqft``."""
    stripped = name.strip()
    return _SEPARATORS.sub("_", _CAMEL_BOUNDARY.sub("_", stripped)).lower()


# ---------------------------------------------------------------------------
# Value converters, one per contract type
# ---------------------------------------------------------------------------

Converter = Callable[[Any], Any]


def _bounds(spec: contracts.Field) -> tuple[float, float]:
    low = -math.inf if spec.min is None else spec.min
    high = math.inf if spec.max is None else spec.max
    return low, high


def _number_converter(spec: contracts.Field) -> Converter:
    low, high = _bounds(spec)
    isfinite = math.isfinite

    def convert(value: Any) -> float:
        kind = type(value)
        if kind is float:
            number: float = value
        elif kind is int:
            try:
                number = float(value)
            except OverflowError:
                _invalid("not_finite")
        else:
            _invalid("wrong_type")
        if not isfinite(number):
            _invalid("not_finite")
        if number < low:
            _invalid("below_min")
        if number > high:
            _invalid("above_max")
        return number

    return convert


def _integer_converter(spec: contracts.Field) -> Converter:
    low, high = _bounds(spec)

    def convert(value: Any) -> int:
        kind = type(value)
        if kind is float:
            if not value.is_integer():
                _invalid("not_integral" if math.isfinite(value) else "not_finite")
            value = int(value)
        elif kind is not int:
            _invalid("wrong_type")
        if value < low:
            _invalid("below_min")
        if value > high:
            _invalid("above_max")
        return int(value)

    return convert


def _string_converter(spec: contracts.Field) -> Converter:
    """Trimmed text, case-normalised as the contract says; blank text counts as absent."""
    max_length = math.inf if spec.max_length is None else spec.max_length
    case = {"lower": str.lower, "upper": str.upper, None: str}.get(spec.normalise)
    if case is None:
        raise ValueError(f"contract field {spec.name!r} has unknown normalise {spec.normalise!r}")

    def convert(value: Any) -> str:
        if type(value) is not str:
            _invalid("wrong_type")
        text: str = value.strip()
        if not text:
            _invalid("missing")
        if len(text) > max_length:
            _invalid("too_long")
        return case(text)

    return convert


def _utc_text(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds and ``Z``: the one time format stored in the lake.

    ``moment`` is in UTC (naive or with a zero offset); ``isoformat()`` without
    arguments always starts with the 19-character ``YYYY-MM-DDTHH:MM:SS`` and is the
    cheapest formatter the standard library offers.
    """
    text = moment.isoformat()
    if moment.microsecond:
        return text[:23] + "Z"
    return text[:19] + ".000Z"


def parse_timestamp(value: Any) -> str:
    """ISO-8601 with an offset, or epoch seconds / milliseconds -> canonical UTC text."""
    kind = type(value)
    try:
        if kind is str:
            moment = datetime.fromisoformat(value.strip())
            offset = moment.utcoffset()
            if offset is None:
                _invalid("naive_timestamp")
            return _utc_text(moment.astimezone(UTC) if offset else moment)
        if kind is int or kind is float:
            if not math.isfinite(value):
                _invalid("not_finite")
            if abs(value) >= EPOCH_MILLIS_THRESHOLD:
                return _utc_text(_UNIX_EPOCH + timedelta(milliseconds=value))
            return _utc_text(_UNIX_EPOCH + timedelta(seconds=value))
    except (ValueError, OverflowError):
        _invalid("invalid_timestamp")
    _invalid("wrong_type")


_CONVERTER_FACTORIES: dict[str, Callable[[contracts.Field], Converter]] = {
    "string": _string_converter,
    "nominal": _string_converter,
    "ordinal": _string_converter,
    "number": _number_converter,
    "integer": _integer_converter,
    "timestamp": lambda _spec: parse_timestamp,
}


def _alias_converter(canonical: Converter, factor: float, spec: contracts.Field) -> Converter:
    """Scale a value given in an alternative unit, then apply the canonical rules.

    The result is rounded to six decimals so a unit conversion does not leak float
    noise (``92.90304000000001``) into the lake.
    """
    integral = spec.type == "integer"

    def convert(value: Any) -> Any:
        kind = type(value)
        if kind is not float and kind is not int:
            _invalid("wrong_type")
        try:
            scaled = round(value * factor, 6)
            return canonical(round(scaled) if integral else scaled)
        except OverflowError:
            _invalid("not_finite")

    return convert


# ---------------------------------------------------------------------------
# Contract-derived tables, built once per container
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where an incoming (normalised) field name lands and how its value is converted."""

    field: str
    convert: Converter
    is_alias: bool


@dataclass(frozen=True)
class Rules:
    """Everything the transform needs from the contract, precomputed."""

    order: tuple[str, ...]
    required: frozenset[str]
    targets: dict[str, Target]
    time_field: str
    partition_fields: tuple[tuple[str, str | None, frozenset[str], str], ...]
    key_cache: dict[str, Target | str] = field(default_factory=dict)


def build_rules(contract: contracts.Contract) -> Rules:
    """Derive lookup tables from the contract so per-record work is dictionary hits."""
    targets: dict[str, Target] = {}
    for spec in contract.fields:
        factory = _CONVERTER_FACTORIES.get(spec.type)
        if factory is None:
            raise ValueError(f"contract field {spec.name!r} has unsupported type {spec.type!r}")
        canonical = factory(spec)
        targets[spec.name] = Target(spec.name, canonical, is_alias=False)
        for alias, factor in spec.aliases.items():
            targets[alias] = Target(spec.name, _alias_converter(canonical, factor, spec), True)
    time_field = next(f.name for f in contract.fields if f.type == "timestamp")
    partitions: list[tuple[str, str | None, frozenset[str], str]] = []
    for key in contract.partition_keys:
        if key == "event_date":
            partitions.append((key, None, frozenset(), ""))
            continue
        spec = contract.field(key)
        if spec.type != "nominal":
            raise ValueError(f"partition key {key!r} must be event_date or a nominal field")
        partitions.append((key, key, frozenset(spec.categories), spec.unseen or "other"))
    return Rules(
        order=tuple(f.name for f in contract.fields),
        required=frozenset(f.name for f in contract.fields if f.required),
        targets=targets,
        time_field=time_field,
        partition_fields=tuple(partitions),
    )


RULES = build_rules(contracts.load())
_DECODER = json.JSONDecoder(parse_constant=lambda name: _reject_constant(name))
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_LOG_ENCODE = json.JSONEncoder(separators=(",", ":"), default=str).encode


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


# ---------------------------------------------------------------------------
# One record
# ---------------------------------------------------------------------------


def resolve_name(raw: str, rules: Rules = RULES) -> Target | str:
    """The target of an incoming field name, or its normalised form if it is unknown."""
    hit = rules.key_cache.get(raw)
    if hit is not None:
        return hit
    name = normalise_name(raw)
    resolved: Target | str = rules.targets.get(name, name)
    if len(rules.key_cache) < _KEY_CACHE_LIMIT:
        rules.key_cache[raw] = resolved
    return resolved


def decode_payload(data: Any) -> Any:
    """Base64 text -> parsed JSON value; raises :class:`RecordRejected`."""
    try:
        raw = binascii.a2b_base64(data, strict_mode=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError, TypeError) as exc:
        detail = "utf8" if isinstance(exc, UnicodeDecodeError) else "base64"
        raise RecordRejected("decode_error", detail=detail) from None
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise RecordRejected("json_error", detail=exc.msg) from None
    except (ValueError, RecursionError) as exc:
        raise RecordRejected("json_error", detail=type(exc).__name__) from None


def _logged_name(name: str) -> str:
    return name[:MAX_LOGGED_NAME]


def collect_fields(
    event: dict[Any, Any], rules: Rules = RULES
) -> tuple[dict[str, tuple[Target, Any]], dict[str, str]]:
    """Map incoming fields onto contract fields, noting unknown, duplicate or conflicting names.

    A JSON ``null`` counts as an absent field.
    """
    found: dict[str, tuple[Target, Any]] = {}
    errors: dict[str, str] = {}
    for raw, value in event.items():
        if value is None:
            continue
        target = resolve_name(raw, rules)
        if isinstance(target, str):
            errors[_logged_name(target)] = "unknown_field"
            continue
        previous = found.get(target.field)
        if previous is None:
            found[target.field] = (target, value)
        elif previous[0] is not target and (previous[0].is_alias or target.is_alias):
            errors[target.field] = "alias_conflict"
        else:
            errors[target.field] = "duplicate_field"
    return found, errors


def normalise_event(
    found: dict[str, tuple[Target, Any]], errors: dict[str, str], rules: Rules = RULES
) -> dict[str, Any]:
    """Convert every value to its canonical form and unit, in contract order.

    ``errors`` (from :func:`collect_fields`) is extended so one log line names every
    problem of the record, not just the first.
    """
    out: dict[str, Any] = {}
    for name in rules.order:
        entry = found.get(name)
        if entry is None or name in errors:
            continue
        try:
            out[name] = entry[0].convert(entry[1])
        except FieldInvalid as exc:
            if exc.code != "missing" or name in rules.required:
                errors[name] = exc.code
    for name in rules.required:
        if name not in out and name not in errors:
            errors[name] = "missing"
    if errors:
        raise RecordRejected("schema_error", errors=errors)
    return out


def partition_keys(event: Mapping[str, Any], rules: Rules = RULES) -> dict[str, str]:
    """Dynamic-partitioning keys; nominal values outside the contract's categories map to
    the contract's ``unseen`` category so the number of S3 prefixes (and Firehose active
    partitions) stays bounded whatever producers send."""
    keys: dict[str, str] = {}
    for key, source, categories, unseen in rules.partition_fields:
        if source is None:
            moment = event.get(rules.time_field)
            keys[key] = moment[:10] if moment else UNKNOWN_PARTITION
            continue
        value = event.get(source)
        keys[key] = UNKNOWN_PARTITION if value is None else value if value in categories else unseen
    return keys


def encode_event(event: dict[str, Any]) -> str:
    """Compact JSON line, base64-encoded for the Firehose response."""
    try:
        line = (_ENCODE(event) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        bad = {
            name: "invalid_unicode"
            for name, value in event.items()
            if type(value) is str and not _is_encodable(value)
        }
        raise RecordRejected("schema_error", errors=bad) from None
    return binascii.b2a_base64(line, newline=False).decode("ascii")


def _is_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def transform_data(data: Any, rules: Rules = RULES) -> tuple[str, dict[str, str]]:
    """One record's base64 data -> (transformed base64 data, partition keys)."""
    parsed = decode_payload(data)
    if type(parsed) is not dict:
        raise RecordRejected("not_an_object", detail=type(parsed).__name__)
    found, errors = collect_fields(parsed, rules)
    event = normalise_event(found, errors, rules)
    return encode_event(event), partition_keys(event, rules)


# ---------------------------------------------------------------------------
# The batch
# ---------------------------------------------------------------------------

# Serialised size of one response entry beyond its variable parts, using the
# separators and escaping of a default json.dumps (the largest form the runtime emits).
_FAILED_ENTRY_OVERHEAD = len(
    json.dumps({"recordId": "", "result": PROCESSING_FAILED, "data": ""})
) + len(", ")
_OK_ENTRY_OVERHEAD = len(json.dumps({"recordId": "", "result": OK, "data": ""})) + len(", ")
_RESPONSE_OVERHEAD = len(json.dumps({"records": []}))


def _metadata_size(keys: dict[str, str]) -> int:
    return len(json.dumps({"metadata": {"partitionKeys": keys}})) - len("{}") + len(", ")


def _json_value_size(value: Any) -> int:
    """Serialised size of ``value`` beyond the empty string the overheads already count."""
    if type(value) is str:
        return len(encode_basestring_ascii(value)) - 2
    return len(json.dumps(value, default=str)) - 2


@dataclass
class Failure:
    """A record returned as ProcessingFailed, for the per-record log line."""

    record_id: Any
    reason: str
    data_length: int
    detail: str | None = None
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class BatchOutcome:
    """The Firehose response plus what the invocation's log lines report."""

    response: dict[str, list[dict[str, Any]]]
    failures: list[Failure]
    response_bytes: int
    input_bytes: int


def _failed_entry(record_id: Any, data: Any) -> dict[str, Any]:
    return {"recordId": record_id, "result": PROCESSING_FAILED, "data": data}


def transform_records(
    records: Iterable[Any], *, max_response_bytes: int = MAX_RESPONSE_BYTES, rules: Rules = RULES
) -> BatchOutcome:
    """Transform a batch while keeping the serialised response within ``max_response_bytes``.

    Before a record is returned ``Ok`` the function checks that the response would still
    fit if every record after it came back ``ProcessingFailed`` with its original data
    (a size known up front). The first record that does not fit, and every record after
    it, is returned ``ProcessingFailed`` with reason ``response_size``.
    """
    batch = [r if isinstance(r, dict) else {} for r in records]
    ids = [r.get("recordId") for r in batch]
    payloads = [r.get("data") for r in batch]
    fallback = [
        _FAILED_ENTRY_OVERHEAD + _json_value_size(rid) + _json_value_size(data)
        for rid, data in zip(ids, payloads, strict=True)
    ]
    reserved = sum(fallback)
    committed = _RESPONSE_OVERHEAD - len(", ") if batch else _RESPONSE_OVERHEAD
    input_bytes = sum(len(p) for p in payloads if type(p) is str)
    out: list[dict[str, Any]] = []
    failures: list[Failure] = []
    full = False
    for rid, data, cost in zip(ids, payloads, fallback, strict=True):
        reserved -= cost
        size = len(data) if type(data) is str else 0
        if full:
            committed += cost
            out.append(_failed_entry(rid, data))
            failures.append(Failure(rid, "response_size", size))
            continue
        try:
            encoded, keys = transform_data(data, rules)
        except RecordRejected as exc:
            committed += cost
            out.append(_failed_entry(rid, data))
            failures.append(Failure(rid, exc.reason, size, exc.detail, exc.errors))
            continue
        except Exception as exc:  # a defect here must not fail the whole batch
            committed += cost
            out.append(_failed_entry(rid, data))
            failures.append(Failure(rid, "internal_error", size, type(exc).__name__))
            continue
        ok_cost = cost - _FAILED_ENTRY_OVERHEAD + _OK_ENTRY_OVERHEAD
        ok_cost += len(encoded) - _json_value_size(data) + _metadata_size(keys)
        if committed + ok_cost + reserved > max_response_bytes:
            full = True
            committed += cost
            out.append(_failed_entry(rid, data))
            failures.append(Failure(rid, "response_size", size))
            continue
        committed += ok_cost
        out.append({"recordId": rid, "result": OK, "data": encoded, "metadata": {"partitionKeys": keys}})
    return BatchOutcome({"records": out}, failures, committed, input_bytes)


# ---------------------------------------------------------------------------
# Logging and the handler
# ---------------------------------------------------------------------------


def failure_log(failure: Failure, invocation_id: Any) -> dict[str, Any]:
    """One line per failed record: ids, reason and length, never the record's contents."""
    line: dict[str, Any] = {
        "level": "WARN",
        "event": "record_failed",
        "invocation_id": invocation_id,
        "record_id": failure.record_id,
        "reason": failure.reason,
        "data_length": failure.data_length,
    }
    if failure.detail is not None:
        line["detail"] = failure.detail
    if failure.errors:
        line["errors"] = failure.errors
    return line


def summary_log(
    outcome: BatchOutcome, invocation_id: Any, request_id: Any, duration_ms: float
) -> dict[str, Any]:
    """One line per invocation with counts per result, failure reason and field error."""
    records = outcome.response["records"]
    failed = len(outcome.failures)
    field_errors = Counter(
        f"{name}:{code}" for failure in outcome.failures for name, code in failure.errors.items()
    )
    return {
        "level": "WARN" if failed else "INFO",
        "event": "transform_summary",
        "invocation_id": invocation_id,
        "request_id": request_id,
        "records": len(records),
        "results": {OK: len(records) - failed, PROCESSING_FAILED: failed},
        "reasons": dict(Counter(f.reason for f in outcome.failures)),
        "field_errors": dict(field_errors),
        "input_bytes": outcome.input_bytes,
        "response_bytes": outcome.response_bytes,
        "duration_ms": round(duration_ms, 3),
    }


def emit(lines: Iterable[dict[str, Any]]) -> None:
    """Write JSON log lines to stdout, which Lambda ships to CloudWatch Logs line by line."""
    text = "".join(_LOG_ENCODE(line) + "\n" for line in lines)
    sys.stdout.write(text)
    sys.stdout.flush()


def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, Any]]]:
    """Lambda entry point (``stream_transform.handler``)."""
    started = time.perf_counter()
    records = event.get("records") if isinstance(event, dict) else None
    outcome = transform_records(records if isinstance(records, list) else [])
    invocation_id = event.get("invocationId") if isinstance(event, dict) else None
    request_id = getattr(context, "aws_request_id", None)
    duration_ms = (time.perf_counter() - started) * 1000
    lines = [failure_log(f, invocation_id) for f in outcome.failures]
    lines.append(summary_log(outcome, invocation_id, request_id, duration_ms))
    emit(lines)
    return outcome.response
