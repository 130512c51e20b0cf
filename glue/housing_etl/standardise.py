"""Standardisation: one spelling, one unit, one type and one time zone per field.

Files from the Firehose transform are already normalised, but batch uploads from other
producers are not, and the ETL must give both the same treatment. Every rule here
turns an unusable value into null (to be handled by the missing-value policy) rather
than failing the job or the record.

The work is done in a few narrow projections, each referring to the previous one's
columns, so every intermediate value is computed once per row and each generated
method stays small enough for the JVM to compile.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from contracts import Contract, Field
from contracts.features import NUMBER_PATTERN, WHITESPACE
from housing_etl.schema import CORRUPT_RECORD, EVENT_DATE, raw_columns, raw_text

EPOCH_MILLIS_FROM = 1e11
MICROS_PER_DAY = 86_400_000_000
EPOCH_TEXT = "_epoch_text"
UTC_TEXT = "_utc_text"
UTC_OFFSET = "+00:00"
UNIX_EPOCH = "1970-01-01 00:00:00"
EPOCH_SECONDS_TYPE = "decimal(18,6)"
_SPACE = "[" + "".join(f"\\x{ord(c):02X}" for c in WHITESPACE) + "]*"
NUMBER_REGEX = f"^{_SPACE}(?:{NUMBER_PATTERN}){_SPACE}$"


def is_text_field(field: Field) -> bool:
    """Fields read as text (id, time, categories) rather than as numbers."""
    return not field.is_numeric


def trimmed(name: str) -> Column:
    """The text without surrounding whitespace (the characters of ``WHITESPACE``)."""
    return F.btrim(F.col(name), F.lit(WHITESPACE)).alias(name)


def cased(field: Field) -> Column:
    """Blank is missing; categories cased as the contract says ("Detached " ->
    "detached"); timestamps upper-cased so "t" and "z" read as "T" and "Z"."""
    text = F.col(field.name)
    if field.type == "timestamp" or field.normalise == "upper":
        value = F.upper(text)
    elif field.normalise == "lower":
        value = F.lower(text)
    else:
        value = text
    return F.when(text != F.lit(""), value).alias(field.name)


def plain_number(text: Column) -> Column:
    """True when the text is a plain decimal or exponent number (``NUMBER_PATTERN``),
    optionally surrounded by whitespace.

    A bare cast (Java's ``Double.parseDouble``) would also accept "NaN", "Infinity",
    hexadecimal ("0x1p3") and type suffixes ("3d"), and throws (slowly) on anything
    else; the pattern is the one the pure-Python encoder applies.
    """
    return text.rlike(NUMBER_REGEX)


def parse_number(name: str) -> Column:
    """A double if the text is a plain decimal or exponent number, else null."""
    text = F.col(name)
    return F.when(plain_number(text), text.cast("double")).alias(name)


def identifier(field: Field) -> Column:
    """An id longer than the contract allows is unusable (null)."""
    text = F.col(field.name)
    if field.max_length is None:
        return text
    # Counting bytes is constant-time, counting characters is not: count characters
    # only when the bytes alone exceed the limit (multi-byte text).
    fits = (F.octet_length(text) <= field.max_length) | (F.length(text) <= field.max_length)
    return F.when(fits, text).alias(field.name)


def iso_like(text: Column) -> Column:
    """Text with a colon and a ``yyyy-`` date: read as ISO-8601, otherwise as epoch."""
    return text.contains(":") & (F.substring(text, 5, 1) == F.lit("-"))


def has_offset(text: Column) -> Column:
    """ISO text ending in ``Z`` or carrying a ``+hh...``/``-hh...`` offset after the date."""
    return text.endswith("Z") | text.contains("+") | (F.locate("-", text, 12) > 0)


def utc_text(name: str) -> Column:
    """ISO text with a ``Z`` or ``+00:00`` suffix removed (the UTC forms most producers
    write); other ISO text as it is; null for text that is not ISO-like.

    A projection of its own, so :func:`iso_timestamp` reads one column instead of
    repeating these branches.
    """
    text = F.col(name)
    local = (
        F.when(text.endswith("Z"), without_suffix(text, "Z"))
        .when(text.endswith(UTC_OFFSET), without_suffix(text, UTC_OFFSET))
        .otherwise(text)
    )
    return F.when(iso_like(text), local).alias(UTC_TEXT)


def without_suffix(text: Column, suffix: str) -> Column:
    """The text before ``suffix``, null if the suffix's first character occurs earlier
    ("...ZZ", "...+05:00+00:00"). Byte-based, so no character counting."""
    head = F.substring_index(text, suffix[0], 1)
    return F.when(F.octet_length(head) + len(suffix) == F.octet_length(text), head)


def utc_instant(local: Column) -> Column:
    """An instant from zone-less ISO date-time text read as UTC, else null.

    Parsed as a ``timestamp_ntz`` and shifted from the Unix epoch as an exact interval,
    which needs no time-zone lookup (and so does not depend on the session time zone).
    """
    since_epoch = local.cast("timestamp_ntz") - F.lit(UNIX_EPOCH).cast("timestamp_ntz")
    return F.timestamp_seconds(since_epoch.cast("interval second").cast(EPOCH_SECONDS_TYPE))


def iso_timestamp(name: str) -> Column:
    """An instant from ISO-8601 text (split by :func:`utc_text`), else null.

    An offset (``Z``, ``+hh:mm``, ``-hh``...) is honoured; text without one is taken
    as UTC, not as the session time zone, so the result does not depend on where
    the job runs. UTC text takes a fast path: for an offset written in the text,
    Spark's cast looks the zone up per row, which costs more than the rest of the
    record's standardisation; other offsets (rare) still go through that cast.
    """
    local = F.col(UTC_TEXT)
    return (
        F.when(local.isNull(), F.lit(None))
        .when(~has_offset(local), utc_instant(local))
        .otherwise(F.col(name).cast("timestamp"))
    )


def epoch_text(name: str) -> Column:
    """The text when it is a plain non-ISO number (an epoch value), else null.

    Kept apart from the conversion in :func:`epoch_timestamp`: Spark hoists a
    repeated cast out of conditional branches, and casting every ISO string to a
    number would throw (and catch) an exception per row.
    """
    text = F.col(name)
    return F.when(~iso_like(text) & plain_number(text), text).alias(EPOCH_TEXT)


def epoch_timestamp(name: str) -> Column:
    """Epoch seconds (below 1e11) or milliseconds as an instant; negative -> null."""
    epoch = F.col(name).cast("double")
    micros = F.when(epoch >= F.lit(EPOCH_MILLIS_FROM), epoch * 1_000).otherwise(epoch * 1_000_000)
    return F.when(epoch >= F.lit(0.0), F.timestamp_micros(F.round(micros).cast("long")))


def parsed(field: Field) -> Column:
    """The typed value of one field (numbers still as double, in the sent unit; the
    time still as text, parsed by :func:`canonical_unit`)."""
    if field.is_numeric:
        return parse_number(field.name)
    if field.type in ("nominal", "ordinal", "timestamp"):
        return F.col(field.name)
    return identifier(field)


def canonical_unit(field: Field) -> Column:
    """The canonical key wins; an alias (another unit) is converted when it is missing.

    For the event time, the "alias" is the same key written as an epoch number.
    """
    if field.type == "timestamp":
        return F.coalesce(iso_timestamp(field.name), epoch_timestamp(EPOCH_TEXT)).alias(field.name)
    value = F.col(field.name)
    for alias, factor in sorted(field.aliases.items()):
        value = F.coalesce(value, F.col(alias) * F.lit(factor))
    return value.alias(field.name)


def within_contract(field: Field) -> Column:
    """Null outside the contract's inclusive [min, max], and for non-integral integers."""
    value = F.col(field.name)
    checks = [value.isNotNull()]
    if field.min is not None:
        checks.append(value >= F.lit(float(field.min)))
    if field.max is not None:
        checks.append(value <= F.lit(float(field.max)))
    if field.type == "integer":
        checks.append(value == F.floor(value))
    valid = reduce(lambda a, b: a & b, checks)
    return F.when(valid, value.cast("int" if field.type == "integer" else "double")).alias(field.name)


def utc_date(timestamp: Column) -> Column:
    """The UTC calendar date of an instant, independent of the session time zone.

    Whole days are counted exactly: the micros are rounded down to a day boundary
    before dividing (a multiple of a day is exact as a double, a late-night instant
    divided directly can round up to the next day).
    """
    micros = F.unix_micros(timestamp)
    day_start = micros - F.pmod(micros, F.lit(MICROS_PER_DAY))
    return F.date_from_unix_date((day_start / F.lit(MICROS_PER_DAY)).cast("int"))


def standardise(df: DataFrame, contract: Contract) -> DataFrame:
    """Typed contract fields plus ``event_date`` (UTC); alias unit columns are folded in.

    Output: the contract's fields in order (string id, UTC timestamp, cased
    categories as sent, doubles in canonical units, ints), then ``event_date``. The
    corrupt-record column, when the input has one, is passed through last so the
    caller can count malformed lines before they are dropped (by ``curate`` or
    :func:`reject_invalid_records`).
    """
    fields = list(contract.fields)
    aliases = sorted(contract.aliases)
    extra = [CORRUPT_RECORD] if CORRUPT_RECORD in df.columns else []
    time_field = next(f for f in fields if f.role == "time")
    text = df.select(*[raw_text(df, n) for n in raw_columns(contract)], *extra)
    text = text.select(*[trimmed(f.name) if is_text_field(f) else F.col(f.name) for f in fields], *aliases, *extra)
    text = text.select(*[cased(f) if is_text_field(f) else F.col(f.name) for f in fields], *aliases, *extra)
    typed = text.select(
        *[parsed(f) for f in fields],
        *[parse_number(a) for a in aliases],
        utc_text(time_field.name),
        epoch_text(time_field.name),
        *extra,
    )
    units = typed.select(
        *[canonical_unit(f) if f.is_numeric or f is time_field else F.col(f.name) for f in fields],
        *extra,
    )
    checked = units.select(*[within_contract(f) if f.is_numeric else F.col(f.name) for f in fields], *extra)
    dated = checked.withColumn(EVENT_DATE, utc_date(F.col(time_field.name)))
    return dated.select(*[f.name for f in fields], EVENT_DATE, *extra)


def is_valid_record(df: DataFrame, contract: Contract) -> Column:
    """True for a well-formed line whose required fields all survived standardisation.

    Without an id a record cannot be deduplicated, and without a time it has no
    partition and no ordering; such records are counted and dropped.
    """
    checks = [F.col(f.name).isNotNull() for f in contract.fields if f.required]
    if CORRUPT_RECORD in df.columns:
        checks.append(F.col(CORRUPT_RECORD).isNull())
    return reduce(lambda a, b: a & b, checks, F.lit(True))


def reject_invalid_records(df: DataFrame, contract: Contract) -> DataFrame:
    """Keep valid records only and drop the corrupt-record column."""
    return df.where(is_valid_record(df, contract)).drop(CORRUPT_RECORD)
