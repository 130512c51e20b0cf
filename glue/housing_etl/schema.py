"""Spark schemas derived from the event contract.

Deriving them (rather than writing them out) keeps the ETL in step with the contract:
a field added there is read, typed and written here without touching this package.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from contracts import Contract

CORRUPT_RECORD = "_corrupt_record"
EVENT_DATE = "event_date"

_SPARK_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "timestamp": T.TimestampType(),
    "nominal": T.StringType(),
    "ordinal": T.StringType(),
    "number": T.DoubleType(),
    "integer": T.IntegerType(),
}


def raw_columns(contract: Contract) -> list[str]:
    """Every key the raw zone may carry: the contract fields, then the alias unit fields."""
    return [f.name for f in contract.fields] + sorted(contract.aliases)


def raw_schema(contract: Contract) -> T.StructType:
    """All raw keys as strings, plus the corrupt-record column.

    Reading everything as a string means a wrong JSON type ("three" bedrooms, a
    number where a string belongs) never fails the read or nulls the whole record;
    :func:`housing_etl.standardise.standardise` decides what each value is worth.
    """
    fields = [T.StructField(name, T.StringType(), True) for name in raw_columns(contract)]
    return T.StructType([*fields, T.StructField(CORRUPT_RECORD, T.StringType(), True)])


def raw_text(df: DataFrame, name: str) -> Column:
    """A raw key's value as text; an absent key is a column of nulls."""
    if name not in df.columns:
        return F.lit(None).cast("string").alias(name)
    return F.col(name).cast("string").alias(name)


def curated_columns(contract: Contract) -> list[str]:
    """The curated zone's columns: every contract field in order, then ``event_date``."""
    return [f.name for f in contract.fields] + [EVENT_DATE]


def curated_schema(contract: Contract) -> T.StructType:
    """Typed contract fields plus the ``event_date`` partition column."""
    fields = [T.StructField(f.name, _SPARK_TYPES[f.type], True) for f in contract.fields]
    return T.StructType([*fields, T.StructField(EVENT_DATE, T.DateType(), True)])
