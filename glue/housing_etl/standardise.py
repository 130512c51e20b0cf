"""Standardisation: one spelling, one unit, one type and one time zone per field.

Files from the Firehose transform are already normalised, but batch uploads from other
producers are not, and the ETL must give both the same treatment. Every rule here
turns an unusable value into null (to be handled by the missing-value policy) rather
than failing the job or the record.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from contracts import Contract, Field
from housing_etl.features import NUMBER_PATTERN, WHITESPACE
from housing_etl.schema import CORRUPT_RECORD, EVENT_DATE

ISO_TIMESTAMP = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$"
)
ZONE_SUFFIX = r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
EPOCH_NUMBER = r"^[0-9]{1,16}(\.[0-9]+)?$"
EPOCH_MILLIS_FROM = 1e11
MICROS_PER_DAY = 86_400_000_000


def column_or_null(df: DataFrame, name: str) -> Column:
    """The column if the input has it, else nulls: an absent key is a missing value."""
    return F.col(name) if name in df.columns else F.lit(None).cast("string")


def trimmed(value: Column) -> Column:
    """Whitespace removed at both ends; blank becomes null (blank means missing)."""
    text = F.btrim(value.cast("string"), F.lit(WHITESPACE))
    return F.when(text != "", text)


def parse_number(value: Column) -> Column:
    """A double if the text is a plain decimal or exponent number, else null.

    A strict pattern rather than a bare cast, so the accepted syntax does not depend
    on ANSI mode and "NaN", "Infinity" or "3d" are not taken for numbers.
    """
    text = trimmed(value)
    return F.when(text.rlike(f"^(?:{NUMBER_PATTERN})$"), text.cast("double"))


def identifier(value: Column, field: Field) -> Column:
    """Trimmed id; longer than the contract allows means unusable (null)."""
    text = trimmed(value)
    if field.max_length is None:
        return text
    return F.when(F.length(text) <= field.max_length, text)


def category(value: Column, field: Field) -> Column:
    """Trimmed and cased as the contract says, so "Detached " and "detached" agree.

    Unseen values are kept: the curated zone records what was sent, and the encoder
    decides what an unseen value means for the model.
    """
    text = trimmed(value)
    if field.normalise == "lower":
        return F.lower(text)
    if field.normalise == "upper":
        return F.upper(text)
    return text


def numeric(df: DataFrame, field: Field) -> Column:
    """The value in the canonical unit, null when unusable.

    The canonical key wins; an alias key (another unit) is converted only when the
    canonical value is missing or unparseable. Values outside the contract's
    [min, max] (inclusive) are null, as are non-integral values of integer fields.
    """
    value = parse_number(column_or_null(df, field.name))
    for alias, factor in sorted(field.aliases.items()):
        value = F.coalesce(value, parse_number(column_or_null(df, alias)) * F.lit(factor))
    if field.min is not None:
        value = F.when(value >= F.lit(float(field.min)), value)
    if field.max is not None:
        value = F.when(value <= F.lit(float(field.max)), value)
    if field.type == "integer":
        return F.when(value == F.floor(value), value.cast("int"))
    return value


def timestamp_utc(value: Column) -> Column:
    """An instant from ISO-8601 text or epoch seconds/milliseconds, else null.

    ISO text with an offset is converted to UTC; text without one is taken as UTC
    (not as the session time zone), so the result does not depend on where the job
    runs. A bare number below 1e11 is epoch seconds, otherwise epoch milliseconds.
    """
    text = F.upper(trimmed(value))
    iso = F.when(text.rlike(ZONE_SUFFIX), text).otherwise(F.concat(text, F.lit("Z")))
    epoch = text.cast("double")
    micros = F.when(epoch >= F.lit(EPOCH_MILLIS_FROM), epoch * 1_000).otherwise(epoch * 1_000_000)
    return F.when(text.rlike(ISO_TIMESTAMP), iso.cast("timestamp")).when(
        text.rlike(EPOCH_NUMBER), F.timestamp_micros(F.round(micros).cast("long"))
    )


def utc_date(timestamp: Column) -> Column:
    """The UTC calendar date of an instant, independent of the session time zone."""
    return F.date_from_unix_date(F.floor(F.unix_micros(timestamp) / MICROS_PER_DAY).cast("int"))


def standardise_field(df: DataFrame, field: Field) -> Column:
    """The standardised column for one contract field, by its type."""
    raw = column_or_null(df, field.name)
    if field.type == "timestamp":
        return timestamp_utc(raw)
    if field.type in ("nominal", "ordinal"):
        return category(raw, field)
    if field.is_numeric:
        return numeric(df, field)
    return identifier(raw, field)


def standardise(df: DataFrame, contract: Contract) -> DataFrame:
    """Typed contract fields plus ``event_date`` (UTC); alias unit columns are folded in.

    The corrupt-record column, when the input has one, is passed through so the
    caller can count malformed lines before :func:`reject_invalid_records` drops them.
    """
    time_field = next(f for f in contract.fields if f.role == "time")
    columns = [standardise_field(df, f).alias(f.name) for f in contract.fields]
    typed = df.select(*columns, *([CORRUPT_RECORD] if CORRUPT_RECORD in df.columns else []))
    with_date = typed.withColumn(EVENT_DATE, utc_date(F.col(time_field.name)))
    return with_date.select(
        *[f.name for f in contract.fields],
        EVENT_DATE,
        *([CORRUPT_RECORD] if CORRUPT_RECORD in df.columns else []),
    )


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
