"""Record format conversion needs a 64 MiB buffer and no S3 compression."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.model import Stack, dig
from readiness.rules._firehose import s3_destinations

MIN_BUFFER_MIB = 64


def check(stack: Stack) -> Iterator[Outcome]:
    for stream, destination in s3_destinations(stack):
        if dig(destination, "DataFormatConversionConfiguration", "Enabled") is False:
            continue
        if not isinstance(destination.get("DataFormatConversionConfiguration"), dict):
            continue
        problems = []
        size = dig(destination, "BufferingHints", "SizeInMBs")
        if not isinstance(size, int) or size < MIN_BUFFER_MIB:
            problems.append(f"BufferingHints.SizeInMBs is {size}, format conversion needs >= {MIN_BUFFER_MIB}")
        compression = destination.get("CompressionFormat", "UNCOMPRESSED")
        if compression != "UNCOMPRESSED":
            problems.append(
                f"CompressionFormat is {compression}; Parquet/ORC compress inside the file, set UNCOMPRESSED"
            )
        yield Outcome(stream, "; ".join(problems) or None)


RULE = Rule(
    id="RDY-KDF2",
    title="Firehose format conversion has a 64 MiB buffer and no S3 compression",
    explanation=(
        "Firehose rejects record format conversion (JSON to Parquet/ORC) with a buffer below 64 MiB or with "
        "S3 compression other than UNCOMPRESSED: the columnar serializer compresses itself."
    ),
    fix="Set buffering_hints size_in_m_bs >= 64 and compression_format='UNCOMPRESSED' (compress in the serializer).",
    check=check,
)
