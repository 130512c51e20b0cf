"""Firehose data-transformation Lambda: validate and normalise housing events.

Firehose hands the function a batch of base64 records read from the Kinesis stream.
Each record is checked against the shared event contract (``contracts``) and either
re-emitted as one line of compact, canonical JSON (``Ok``, with the dynamic-partitioning
keys Firehose needs) or returned untouched as ``ProcessingFailed`` so Firehose writes it
to the error prefix. Nothing is ever ``Dropped`` and a bad record never fails the
invocation: a failed invocation makes Firehose retry the whole batch and finally route
every record, good ones included, to the error prefix.

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

# Lambda caps a synchronous response at 6 MB (6,291,456 bytes). The budget stays below
# it so a large batch never becomes a failed invocation, which Firehose would retry and
# then send wholesale, good records included, to the error prefix.
MAX_RESPONSE_BYTES = 6_000_000

# Epoch numbers at or above this magnitude are milliseconds: read as seconds they would
# lie beyond the year 5000.
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
# Field names
# ---------------------------------------------------------------------------

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[\s_\-]+")


def normalise_name(name: str) -> str:
    """``livingAreaSqft``, ``living-area-sqft``, ``Living Area Sqft`` -> ``living_area_sqft``."""
    return _SEPARATORS.sub("_", _CAMEL_BOUNDARY.sub("_", name.strip())).lower()


# ---------------------------------------------------------------------------
# Value converters, one per contract type
# ---------------------------------------------------------------------------

Converter = Callable[[Any], Any]


def _bounds(spec: contracts.Field) -> tuple[float, float]:
    low = -math.inf if spec.min is None else spec.min
    high = math.inf if spec.max is None else spec.max
    return low, high


def _range_error(value: float, low: float, high: float) -> NoReturn:
    if not math.isfinite(value):
        _invalid("not_finite")
    _invalid("below_min" if value < low else "above_max")


def _number_converter(spec: contracts.Field) -> Converter:
    """Numbers as floats: one JSON type per column keeps the lake's schema stable."""
    low, high = _bounds(spec)

    def convert(value: Any) -> float:
        kind = type(value)
        if kind is float:
            if low <= value <= high:
                return value  # type: ignore[no-any-return]
        elif kind is int:
            if low <= value <= high:
                return float(value)
        else:
            _invalid("wrong_type")
        _range_error(value, low, high)

    return convert


def _integer_converter(spec: contracts.Field) -> Converter:
    """Integers; an integral float (``3.0``) is accepted, a bool is not a number."""
    low, high = _bounds(spec)

    def convert(value: Any) -> int:
        kind = type(value)
        if kind is int:
            if low <= value <= high:
                return value  # type: ignore[no-any-return]
        elif kind is float:
            if not value.is_integer():
                _invalid("not_integral" if math.isfinite(value) else "not_finite")
            if low <= value <= high:
                return int(value)
        else:
            _invalid("wrong_type")
        _range_error(value, low, high)

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

    ``moment`` is in UTC (naive, or with a zero offset). ``isoformat()`` always starts
    with the 19 characters ``YYYY-MM-DDTHH:MM:SS`` (then ``.ffffff`` if there are
    microseconds) and is the cheapest formatter in the standard library.
    """
    text = moment.isoformat()
    if moment.microsecond:
        return text[:23] + "Z"
    return text[:19] + ".000Z"


def parse_timestamp(value: Any) -> str:
    """ISO-8601 with an offset, or epoch seconds / milliseconds -> canonical UTC text.

    A timestamp without an offset is rejected: guessing its zone would silently shift
    events by hours.
    """
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

    The product is rounded to six decimals so a unit conversion does not leak float
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
class PartitionKey:
    """One dynamic-partitioning key: the event date, or a nominal field's category."""

    name: str
    source: str
    categories: frozenset[str] = frozenset()
    unseen: str = contracts.OTHER_CATEGORY
    is_date: bool = False


@dataclass(frozen=True)
class Rules:
    """Everything the transform needs from the contract, precomputed."""

    order: tuple[str, ...]
    required: frozenset[str]
    targets: dict[str, Target]
    partition_keys: tuple[PartitionKey, ...]
    key_cache: dict[str, Target | str] = field(default_factory=dict)


def _partition_key(contract: contracts.Contract, name: str) -> PartitionKey:
    if name == "event_date":
        time_field = next(f.name for f in contract.fields if f.type == "timestamp")
        return PartitionKey(name, time_field, is_date=True)
    spec = contract.field(name)
    if spec.type != "nominal":
        raise ValueError(f"partition key {name!r} must be event_date or a nominal field")
    unseen = spec.unseen or contracts.OTHER_CATEGORY
    return PartitionKey(name, name, frozenset(spec.categories), unseen)


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
    return Rules(
        order=tuple(f.name for f in contract.fields),
        required=frozenset(f.name for f in contract.fields if f.required),
        targets=targets,
        partition_keys=tuple(_partition_key(contract, k) for k in contract.partition_keys),
    )


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


RULES = build_rules(contracts.load())
_DECODE = json.JSONDecoder(parse_constant=_reject_constant).decode
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_LOG_ENCODE = json.JSONEncoder(separators=(",", ":"), default=str).encode


# ---------------------------------------------------------------------------
# One record
# ---------------------------------------------------------------------------


def resolve_name(raw: str, rules: Rules = RULES) -> Target | str:
    """The target of an incoming field name, or its normalised form if it is unknown.

    Producers send the same few spellings over and over, so results are cached, up to a
    bound so that a producer inventing names cannot grow the container's memory.
    """
    hit = rules.key_cache.get(raw)
    if hit is not None:
        return hit
    name = normalise_name(raw)
    resolved: Target | str = rules.targets.get(name, name)
    if len(rules.key_cache) < _KEY_CACHE_LIMIT:
        rules.key_cache[raw] = resolved
    return resolved


def decode_payload(data: Any) -> Any:
    """Base64 text -> parsed JSON value; raises :class:`RecordRejected`.

    JSON text must be UTF-8 (RFC 8259); ``NaN`` and ``Infinity`` are not JSON.
    """
    try:
        text = binascii.a2b_base64(data, strict_mode=True).decode("utf-8")
    except UnicodeDecodeError:
        raise RecordRejected("decode_error", detail="utf8") from None
    except (binascii.Error, ValueError, TypeError):
        raise RecordRejected("decode_error", detail="base64") from None
    try:
        return _DECODE(text)
    except json.JSONDecodeError as exc:
        raise RecordRejected("json_error", detail=exc.msg) from None
    except (ValueError, RecursionError) as exc:
        raise RecordRejected("json_error", detail=type(exc).__name__) from None


def _name_conflict(event: dict[str, Any], name: str, rules: Rules) -> str:
    """Why a contract field was given twice: under its unit alias too, or twice over."""
    given = {resolve_name(raw, rules) for raw, value in event.items() if value is not None}
    spellings = {t for t in given if isinstance(t, Target) and t.field == name}
    if len(spellings) > 1 and any(t.is_alias for t in spellings):
        return "alias_conflict"
    return "duplicate_field"


def normalise_event(event: dict[str, Any], rules: Rules = RULES) -> dict[str, Any]:
    """Validate a parsed event; return it with canonical names, units and contract order.

    Every problem is collected (unknown, duplicate or conflicting names, bad values,
    missing required fields) so one log line names them all. A JSON ``null`` or a blank
    string counts as an absent field.
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    cached = rules.key_cache.get
    required = rules.required
    for raw, value in event.items():
        if value is None:
            continue
        target = cached(raw) or resolve_name(raw, rules)
        if isinstance(target, str):
            errors[target[:MAX_LOGGED_NAME]] = "unknown_field"
            continue
        name = target.field
        if name in values or name in errors:
            errors[name] = _name_conflict(event, name, rules)
            continue
        try:
            values[name] = target.convert(value)
        except FieldInvalid as exc:
            if exc.code == "missing" and name not in required:
                values[name] = None
            else:
                errors[name] = exc.code
    for name in required - values.keys():
        errors.setdefault(name, "missing")
    if errors:
        raise RecordRejected("schema_error", errors=errors)
    return {name: v for name in rules.order if (v := values.get(name)) is not None}


def partition_values(event: Mapping[str, Any], rules: Rules = RULES) -> tuple[str, ...]:
    """Dynamic-partitioning values of a normalised event, in contract order.

    A nominal value outside the contract's categories maps to the contract's ``unseen``
    category (the record itself keeps the value), so the number of S3 prefixes, and of
    Firehose active partitions, stays bounded whatever producers send.
    """
    found: list[str] = []
    for key in rules.partition_keys:
        value = event.get(key.source)
        if value is None:
            found.append(UNKNOWN_PARTITION)
        elif key.is_date:
            found.append(value[:10])
        else:
            found.append(value if value in key.categories else key.unseen)
    return tuple(found)


def partition_keys(event: Mapping[str, Any], rules: Rules = RULES) -> dict[str, str]:
    """The ``partitionKeys`` metadata Firehose dynamic partitioning reads."""
    names = (key.name for key in rules.partition_keys)
    return dict(zip(names, partition_values(event, rules), strict=True))


def encode_event(event: dict[str, Any]) -> str:
    """One compact JSON line, base64-encoded for the Firehose response."""
    try:
        line = _ENCODE(event).encode("utf-8")
    except UnicodeEncodeError:
        bad = {
            name: "invalid_unicode"
            for name, value in event.items()
            if type(value) is str and not _is_encodable(value)
        }
        raise RecordRejected("schema_error", errors=bad) from None
    return binascii.b2a_base64(line + b"\n", newline=False).decode("ascii")


def _is_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def transform_data(data: Any, rules: Rules = RULES) -> tuple[str, tuple[str, ...]]:
    """One record's base64 data -> (transformed base64 data, partition values)."""
    parsed = decode_payload(data)
    if type(parsed) is not dict:
        raise RecordRejected("not_an_object", detail=type(parsed).__name__)
    event = normalise_event(parsed, rules)
    return encode_event(event), partition_values(event, rules)


# ---------------------------------------------------------------------------
# The batch and its response-size budget
# ---------------------------------------------------------------------------

# Sizes follow a default json.dumps (", " and ": " separators, ASCII escapes): the
# largest form in which the Lambda runtime can serialise the response.
_FAILED_ENTRY_OVERHEAD = len(
    json.dumps({"recordId": "", "result": PROCESSING_FAILED, "data": ""}) + ", "
)
_OK_ENTRY_OVERHEAD = len(json.dumps({"recordId": "", "result": OK, "data": ""}) + ", ")
_RESPONSE_OVERHEAD = len(json.dumps({"records": []})) - len(", ")


def _json_size(value: Any) -> int:
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


class ResponseBudget:
    """Keeps the serialised response within Lambda's synchronous payload limit.

    A ``ProcessingFailed`` entry echoes the record's original data, so the size of the
    response in which every record failed is known before any work is done. A record
    may come back ``Ok`` only if the response still fits when every later record falls
    back to that form; the first record that does not fit closes the budget.
    """

    def __init__(self, ids: list[Any], payloads: list[Any], limit: int) -> None:
        self.limit = limit
        self.data_sizes = [_json_size(d) for d in payloads]
        self.fallback = [
            _FAILED_ENTRY_OVERHEAD + _json_size(rid) + size
            for rid, size in zip(ids, self.data_sizes, strict=True)
        ]
        self.reserved = sum(self.fallback)
        self.used = _RESPONSE_OVERHEAD if ids else _RESPONSE_OVERHEAD + len(", ")
        self.closed = False

    def take_failed(self, index: int) -> None:
        cost = self.fallback[index]
        self.reserved -= cost
        self.used += cost

    def try_take_ok(self, index: int, data_size: int, metadata_size: int) -> bool:
        """Account for an ``Ok`` entry if it fits; otherwise close the budget."""
        fallback = self.fallback[index]
        cost = fallback - self.data_sizes[index] + data_size + metadata_size
        cost += _OK_ENTRY_OVERHEAD - _FAILED_ENTRY_OVERHEAD
        if self.used + cost + self.reserved - fallback > self.limit:
            self.closed = True
            return False
        self.reserved -= fallback
        self.used += cost
        return True


class MetadataCache:
    """One shared ``metadata`` object (and its serialised size) per partition.

    A batch spans few partitions, so sharing the object saves two dictionaries per
    record and the time to size them.
    """

    def __init__(self, rules: Rules) -> None:
        self.names = tuple(key.name for key in rules.partition_keys)
        self.entries: dict[tuple[str, ...], tuple[dict[str, Any], int]] = {}

    def get(self, values: tuple[str, ...]) -> tuple[dict[str, Any], int]:
        entry = self.entries.get(values)
        if entry is None:
            metadata = {"partitionKeys": dict(zip(self.names, values, strict=True))}
            size = len(json.dumps({"metadata": metadata})) - len("{}") + len(", ")
            entry = self.entries[values] = (metadata, size)
        return entry


def transform_records(
    records: Iterable[Any], *, max_response_bytes: int = MAX_RESPONSE_BYTES, rules: Rules = RULES
) -> BatchOutcome:
    """Transform a batch; records past the response budget come back ``response_size``."""
    batch = [r if isinstance(r, dict) else {} for r in records]
    ids = [r.get("recordId") for r in batch]
    payloads = [r.get("data") for r in batch]
    budget = ResponseBudget(ids, payloads, max_response_bytes)
    metadata_cache = MetadataCache(rules)
    out: list[dict[str, Any]] = []
    failures: list[Failure] = []
    for index, (rid, data) in enumerate(zip(ids, payloads, strict=True)):
        if budget.closed:
            failure = Failure(rid, "response_size", _length(data))
        else:
            try:
                encoded, partition = transform_data(data, rules)
            except RecordRejected as exc:
                failure = Failure(rid, exc.reason, _length(data), exc.detail, exc.errors)
            except Exception as exc:  # a defect must cost one record, not the batch
                failure = Failure(rid, "internal_error", _length(data), type(exc).__name__)
            else:
                metadata, metadata_size = metadata_cache.get(partition)
                if budget.try_take_ok(index, len(encoded), metadata_size):
                    out.append({"recordId": rid, "result": OK, "data": encoded, "metadata": metadata})
                    continue
                failure = Failure(rid, "response_size", _length(data))
        budget.take_failed(index)
        failures.append(failure)
        out.append({"recordId": rid, "result": PROCESSING_FAILED, "data": data})
    input_bytes = sum(len(p) for p in payloads if type(p) is str)
    return BatchOutcome({"records": out}, failures, budget.used, input_bytes)


def _length(data: Any) -> int:
    return len(data) if type(data) is str else 0


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
    records = len(outcome.response["records"])
    failed = len(outcome.failures)
    field_errors = Counter(
        f"{name}:{code}" for failure in outcome.failures for name, code in failure.errors.items()
    )
    return {
        "level": "WARN" if failed else "INFO",
        "event": "transform_summary",
        "invocation_id": invocation_id,
        "request_id": request_id,
        "records": records,
        "results": {OK: records - failed, PROCESSING_FAILED: failed},
        "reasons": dict(Counter(f.reason for f in outcome.failures)),
        "field_errors": dict(field_errors),
        "input_bytes": outcome.input_bytes,
        "response_bytes": outcome.response_bytes,
        "duration_ms": round(duration_ms, 3),
    }


def emit(lines: Iterable[dict[str, Any]]) -> None:
    """Write JSON log lines to stdout, which Lambda ships to CloudWatch Logs line by line."""
    sys.stdout.write("".join(_LOG_ENCODE(line) + "\n" for line in lines))
    sys.stdout.flush()


def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, Any]]]:
    """Lambda entry point (``stream_transform.handler``)."""
    started = time.perf_counter()
    body = event if isinstance(event, dict) else {}
    records = body.get("records")
    outcome = transform_records(records if isinstance(records, list) else [])
    duration_ms = (time.perf_counter() - started) * 1000
    invocation_id = body.get("invocationId")
    lines = [failure_log(f, invocation_id) for f in outcome.failures]
    request_id = getattr(context, "aws_request_id", None)
    lines.append(summary_log(outcome, invocation_id, request_id, duration_ms))
    emit(lines)
    return outcome.response
