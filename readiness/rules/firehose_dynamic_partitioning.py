"""Dynamic partitioning needs an error prefix, partition keys and a 64 MiB buffer."""

from __future__ import annotations

from collections.abc import Iterator

from readiness.core import Outcome, Rule
from readiness.model import Stack, as_list, dig
from readiness.rules._firehose import s3_destinations

MIN_BUFFER_MIB = 64


def check(stack: Stack) -> Iterator[Outcome]:
    for stream, destination in s3_destinations(stack):
        if dig(destination, "DynamicPartitioningConfiguration", "Enabled") is not True:
            continue
        problems = []
        if not destination.get("ErrorOutputPrefix"):
            problems.append("no ErrorOutputPrefix")
        prefix = destination.get("Prefix")
        processors = {p.get("Type") for p in as_list(dig(destination, "ProcessingConfiguration", "Processors"))}
        if not isinstance(prefix, str) or "!{partitionKeyFrom" not in prefix:
            problems.append(
                "Prefix uses no partition key (!{partitionKeyFromQuery:..} or !{partitionKeyFromLambda:..})"
            )
        else:
            if "!{partitionKeyFromQuery:" in prefix and "MetadataExtraction" not in processors:
                problems.append("Prefix uses partitionKeyFromQuery but no MetadataExtraction processor is configured")
            if "!{partitionKeyFromLambda:" in prefix and "Lambda" not in processors:
                problems.append("Prefix uses partitionKeyFromLambda but no Lambda processor is configured")
        size = dig(destination, "BufferingHints", "SizeInMBs")
        if not isinstance(size, int) or size < MIN_BUFFER_MIB:
            problems.append(f"BufferingHints.SizeInMBs is {size}, dynamic partitioning needs >= {MIN_BUFFER_MIB}")
        yield Outcome(stream, "; ".join(problems) or None)


RULE = Rule(
    id="RDY-KDF1",
    title="Firehose dynamic partitioning has an error prefix, partition keys and a 64 MiB buffer",
    explanation=(
        "With dynamic partitioning enabled, Firehose rejects the delivery stream unless ErrorOutputPrefix is "
        "set, the Prefix uses at least one partition key whose source (MetadataExtraction or Lambda processor) "
        "is configured, and the buffer is at least 64 MiB."
    ),
    fix=(
        "Set error_output_prefix (e.g. 'errors/!{firehose:error-output-type}/'), put "
        "!{partitionKeyFromQuery:key} or !{partitionKeyFromLambda:key} in prefix with the matching processor, "
        "and buffering_hints size_in_m_bs >= 64."
    ),
    check=check,
)
