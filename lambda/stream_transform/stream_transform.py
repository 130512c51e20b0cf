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
# "...SSZ" and "...SS+00:00" (or any other 6-character zero suffix).
_UTC_SECONDS_LENGTHS = frozenset((20, 25))


class RecordRejected(Exception):
    """A record that cannot be transformed; ``reason`` is its machine-readable class."""

    def __init__(self, reason: str, *, detail: str | None = None, errors: dict[str, str] | None = None) -> None:
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
    # Compared, not converted: an integer beyond float range must not raise here.
    if value != value or value in (math.inf, -math.inf):
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
    cases: dict[str | None, Callable[[str], str]] = {"lower": str.lower, "upper": str.upper, None: str}
    case = cases.get(spec.normalise)
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


def _already_utc_seconds(text: str, moment: datetime) -> bool:
    """True if ``text`` starts with ``YYYY-MM-DDTHH:MM:SS`` and says exactly ``moment``
    (whole seconds, zero offset), so its first 19 characters can be reused as they are.

    This is the form most producers send; reusing the text skips formatting, which
    is the bulk of a timestamp's cost.
    """
    return (
        not moment.microsecond
        and len(text) in _UTC_SECONDS_LENGTHS
        and text[10] == "T"
        and text[4] == text[7] == "-"
        and text[13] == text[16] == ":"
        and text[11:13] != "24"
    )


def parse_timestamp(value: Any) -> str:
    """ISO-8601 with an offset, or epoch seconds / milliseconds -> canonical UTC text.

    A timestamp without an offset is rejected: guessing its zone would silently shift
    events by hours.
    """
    kind = type(value)
    try:
        if kind is str:
            text: str = value.strip()
            moment = datetime.fromisoformat(text)
            offset = moment.utcoffset()
            if offset is None:
                _invalid("naive_timestamp")
            if offset:
                return _utc_text(moment.astimezone(UTC))
            if _already_utc_seconds(text, moment):
                return text[:19] + ".000Z"
            return _utc_text(moment)
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


@dataclass(frozen=True, slots=True)
class Target:
    """Where an incoming (normalised) field name lands and how its value is converted.

    Names outside the contract get a target too (``known=False``) whose converter
    rejects the value, so the per-field loop has a single path.
    """

    field: str
    convert: Converter
    is_alias: bool = False
    known: bool = True


def _unknown_field(value: Any) -> NoReturn:
    _invalid("unknown_field")


@dataclass(frozen=True, slots=True)
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
    key_cache: dict[str, Target] = field(default_factory=dict)


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


class NonStandardConstant(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity``: accepted by Python's parser, not by JSON."""


def _reject_constant(name: str) -> NoReturn:
    raise NonStandardConstant(f"{name} is not JSON")


def _compact_encoder() -> Callable[[Any], str]:
    """``json.dumps(..., separators=(",", ":"), ensure_ascii=False, allow_nan=False)``.

    ``JSONEncoder.encode`` builds a new C encoder on every call; building it once saves
    about a microsecond per record. Where the C encoder is missing or behaves
    differently (another interpreter), the plain encoder is used.
    """
    plain = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return plain.encode
    try:
        chunks = make(None, None, json.encoder.encode_basestring, None, ":", ",", False, False, False)
        sample = {"a": '\u00e9"', "b": 1.5, "c": 2, "d": True}
        if "".join(chunks(sample, 0)) != plain.encode(sample):
            return plain.encode
    except Exception:  # an interpreter whose private encoder differs: use the public one
        return plain.encode
    return lambda value: "".join(chunks(value, 0))


RULES = build_rules(contracts.load())
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
_JSON_WHITESPACE = " \t\n\r"
_ENCODE = _compact_encoder()
_LOG_ENCODE = json.JSONEncoder(separators=(",", ":"), default=str).encode


# ---------------------------------------------------------------------------
# One record
# ---------------------------------------------------------------------------


def resolve_name(raw: str, rules: Rules = RULES) -> Target:
    """The target of an incoming field name (an unknown-field target if it is not in the
    contract, named by its normalised form, truncated for the logs).

    Producers send the same few spellings over and over, so results are cached, up to a
    bound so that a producer inventing names cannot grow the container's memory.
    """
    hit = rules.key_cache.get(raw)
    if hit is not None:
        return hit
    name = normalise_name(raw)
    target = rules.targets.get(name)
    if target is None:
        target = Target(name[:MAX_LOGGED_NAME], _unknown_field, known=False)
    if len(rules.key_cache) < _KEY_CACHE_LIMIT:
        rules.key_cache[raw] = target
    return target


def parse_json(text: str) -> Any:
    """``json.loads`` semantics for one document, minus the wrapper's per-call overhead.

    The scanner handles the common shape (no leading whitespace, nothing but whitespace
    after the document); anything else goes through the full decoder, which also
    produces the precise error.
    """
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:
        return _DECODER.decode(text)
    if end != len(text) and text[end:].strip(_JSON_WHITESPACE):
        return _DECODER.decode(text)
    return value


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
        return parse_json(text)
    except json.JSONDecodeError as exc:
        raise RecordRejected("json_error", detail=exc.msg) from None
    except NonStandardConstant as exc:
        raise RecordRejected("json_error", detail=str(exc)) from None
    except (ValueError, RecursionError) as exc:
        raise RecordRejected("json_error", detail=type(exc).__name__) from None


def _name_conflict(event: dict[str, Any], target: Target, rules: Rules) -> str:
    """Why a field name came twice: a unit alias beside its canonical field, or twice over."""
    if not target.known:
        return "unknown_field"
    given = {resolve_name(raw, rules) for raw, value in event.items() if value is not None}
    spellings = {t for t in given if t.field == target.field}
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
        target = cached(raw) or resolve_name(raw, rules)
        if value is None and target.known:
            continue
        name = target.field
        if name in values or name in errors:
            errors[name] = _name_conflict(event, target, rules)
            continue
        try:
            values[name] = target.convert(value)
        except FieldInvalid as exc:
            if exc.code == "missing" and name not in required:
                values[name] = None
            else:
                errors[name] = exc.code
    if not values.keys() >= required:
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
            name: "invalid_unicode" for name, value in event.items() if type(value) is str and not _is_encodable(value)
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
_FAILED_ENTRY_OVERHEAD = len(json.dumps({"recordId": "", "result": PROCESSING_FAILED, "data": ""}) + ", ")
_OK_ENTRY_OVERHEAD = len(json.dumps({"recordId": "", "result": OK, "data": ""}) + ", ")
_RESPONSE_OVERHEAD = len(json.dumps({"records": []})) - len(", ")
_ascii = encode_basestring_ascii


def _json_size(value: Any) -> int:
    """Serialised size of ``value`` beyond the empty string the overheads already count."""
    if type(value) is str:
        return len(_ascii(value)) - 2
    return len(json.dumps(value, default=str)) - 2


@dataclass
class Failure:
    """A record returned as ProcessingFailed, for the per-record log line."""

    index: int
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


class MetadataCache:
    """One shared ``metadata`` object (and its serialised size) per partition.

    A batch spans few partitions, so sharing the object saves two dictionaries per
    record and the time to size them.
    """

    def __init__(self, rules: Rules) -> None:
        self.names = tuple(key.name for key in rules.partition_keys)
        self.entries: dict[tuple[str, ...], tuple[dict[str, Any], int]] = {}
        self.sizes: dict[int, int] = {}

    def add(self, values: tuple[str, ...]) -> tuple[dict[str, Any], int]:
        metadata = {"partitionKeys": dict(zip(self.names, values, strict=True))}
        size = len(json.dumps({"metadata": metadata})) - len("{}") + len(", ")
        entry = self.entries[values] = (metadata, size)
        self.sizes[id(metadata)] = size
        return entry

    def size_of(self, metadata: dict[str, Any]) -> int:
        return self.sizes[id(metadata)]


def _failed_entry(record_id: Any, data: Any) -> dict[str, Any]:
    return {"recordId": record_id, "result": PROCESSING_FAILED, "data": data}


def _length(data: Any) -> int:
    return len(data) if type(data) is str else 0


def enforce_budget(
    entries: list[dict[str, Any]], payloads: list[Any], metadata: MetadataCache, limit: int
) -> tuple[list[Failure], int]:
    """Turn ``Ok`` entries into ``ProcessingFailed`` (``response_size``) until the response fits.

    A ``ProcessingFailed`` entry echoes the record's original data, so every entry has a
    known fallback size. Walking the batch in order, an ``Ok`` entry is kept only if the
    response still fits when every later entry falls back; the first that does not fit,
    and every ``Ok`` entry after it, is downgraded. Returns the new failures and the
    final size. Only called for a batch that is over the limit.
    """
    if not entries:
        return [], _RESPONSE_OVERHEAD + len(", ")
    fallback = [
        _FAILED_ENTRY_OVERHEAD + _json_size(entry["recordId"]) + _json_size(data)
        for entry, data in zip(entries, payloads, strict=True)
    ]
    reserved = sum(fallback)
    used = _RESPONSE_OVERHEAD
    failures: list[Failure] = []
    full = False
    for index, entry in enumerate(entries):
        reserved -= fallback[index]
        if entry["result"] == OK:
            cost = _OK_ENTRY_OVERHEAD + _json_size(entry["recordId"]) + len(entry["data"])
            cost += metadata.size_of(entry["metadata"])
            full = full or used + cost + reserved > limit
            if not full:
                used += cost
                continue
            entries[index] = _failed_entry(entry["recordId"], payloads[index])
            failures.append(Failure(index, entry["recordId"], "response_size", _length(payloads[index])))
        used += fallback[index]
    return failures, used


def transform_records(
    records: Iterable[Any], *, max_response_bytes: int = MAX_RESPONSE_BYTES, rules: Rules = RULES
) -> BatchOutcome:
    """Transform a batch, keeping its serialised response within ``max_response_bytes``.

    The response size is added up as records are transformed; only a batch that ends
    up over the limit pays for :func:`enforce_budget`.
    """
    batch = [r if isinstance(r, dict) else {} for r in records]
    payloads = [r.get("data") for r in batch]
    metadata_cache = MetadataCache(rules)
    known_metadata = metadata_cache.entries.get
    out: list[dict[str, Any]] = []
    failures: list[Failure] = []
    ok_bytes = 0
    for index, (record, data) in enumerate(zip(batch, payloads, strict=True)):
        rid = record.get("recordId")
        try:
            encoded, partition = transform_data(data, rules)
        except RecordRejected as exc:
            failure = Failure(index, rid, exc.reason, _length(data), exc.detail, exc.errors)
        except Exception as exc:  # a defect must cost one record, not the batch
            failure = Failure(index, rid, "internal_error", _length(data), type(exc).__name__)
        else:
            metadata, metadata_size = known_metadata(partition) or metadata_cache.add(partition)
            out.append({"recordId": rid, "result": OK, "data": encoded, "metadata": metadata})
            ok_bytes += len(encoded) + metadata_size
            continue
        failures.append(failure)
        out.append(_failed_entry(rid, data))
    size = _RESPONSE_OVERHEAD + len(", ") if not out else _RESPONSE_OVERHEAD
    size += sum(_json_size(entry["recordId"]) for entry in out) + ok_bytes
    size += (len(out) - len(failures)) * _OK_ENTRY_OVERHEAD + len(failures) * _FAILED_ENTRY_OVERHEAD
    size += sum(_json_size(payloads[f.index]) for f in failures)
    if size > max_response_bytes:
        downgraded, size = enforce_budget(out, payloads, metadata_cache, max_response_bytes)
        failures = sorted(failures + downgraded, key=lambda f: f.index)
    input_bytes = sum(len(p) for p in payloads if type(p) is str)
    return BatchOutcome({"records": out}, failures, size, input_bytes)


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


def summary_log(outcome: BatchOutcome, invocation_id: Any, request_id: Any, duration_ms: float) -> dict[str, Any]:
    """One line per invocation with counts per result, failure reason and field error."""
    records = len(outcome.response["records"])
    failed = len(outcome.failures)
    field_errors = Counter(f"{name}:{code}" for failure in outcome.failures for name, code in failure.errors.items())
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
