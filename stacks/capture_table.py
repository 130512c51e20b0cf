"""The Glue table over the endpoint's data capture: production requests as lake data.

SageMaker writes one JSON object per captured request to
`<prefix><endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl`. The table reads that layout
with Athena partition projection (no crawler, no partitions to add: a new hour is
queryable as soon as its files exist), in the raw database, because captured requests
carry the listings' features as callers sent them. The database gives new tables no
default permissions, so Lake Formation decides who reads it: the LF-tags of the raw
database (the data scientist persona's grant), through the registered capture location.

Columns follow the capture record (Athena's OpenX JSON SerDe matches keys
case-insensitively); `eventmetadata.inferenceid` is the listing's event id when a request
scored one listing that named it, which is how a captured prediction meets the listing's
sale price later (docs/drift.md).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from constructs import Construct

from stacks.access import Zone

TABLE_NAME = "inference_capture"
# Projection enumerates the hours from here to now; data capture of this product starts later.
FIRST_HOUR = "2025/01/01/00"
PAYLOAD = "struct<observedcontenttype:string,mode:string,data:string,encoding:string>"
COLUMNS = {
    "capturedata": (
        f"struct<endpointinput:{PAYLOAD},endpointoutput:{PAYLOAD}>",
        "the request the endpoint received and its answer: content type, mode, data (CSV, JSON or base64), encoding",
    ),
    "eventmetadata": (
        "struct<eventid:string,inferenceid:string,inferencetime:string>",
        "SageMaker's event id, the inference id the caller passed (a listing's event id), the capture time",
    ),
    "eventversion": ("string", "version of the capture record format"),
}
PARTITIONS = {
    "endpoint": "the endpoint's name",
    "variant": "the production variant that answered",
    "capture_hour": "the hour of the capture folder, yyyy/MM/dd/HH (UTC)",
}


class CaptureTable(Construct):
    """The catalogued data capture of one endpoint. Exposes `table` and `name`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        capture: Zone,
        prefix: str,
        endpoint_name: str,
        variants: list[str],
    ) -> None:
        super().__init__(scope, construct_id)
        if capture.database is None:
            raise ValueError("the capture zone names no Glue database for its table")
        location = f"s3://{capture.bucket.bucket_name}/{prefix}"
        self.name = TABLE_NAME
        self.table = glue.CfnTable(
            self,
            "Table",
            catalog_id=cdk.Stack.of(self).account,
            database_name=capture.database,
            table_input=glue.CfnTable.TableInputProperty(
                name=TABLE_NAME,
                description="Requests and answers the SageMaker endpoint captured (JSON Lines, one object each)",
                table_type="EXTERNAL_TABLE",
                parameters={
                    "classification": "json",
                    "projection.enabled": "true",
                    "projection.endpoint.type": "enum",
                    "projection.endpoint.values": endpoint_name,
                    "projection.variant.type": "enum",
                    "projection.variant.values": ",".join(variants),
                    "projection.capture_hour.type": "date",
                    "projection.capture_hour.format": "yyyy/MM/dd/HH",
                    "projection.capture_hour.range": f"{FIRST_HOUR},NOW",
                    "projection.capture_hour.interval": "1",
                    "projection.capture_hour.interval.unit": "HOURS",
                    "storage.location.template": f"{location}${{endpoint}}/${{variant}}/${{capture_hour}}/",
                },
                partition_keys=[
                    glue.CfnTable.ColumnProperty(name=name, type="string", comment=comment)
                    for name, comment in PARTITIONS.items()
                ],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    input_format="org.apache.hadoop.mapred.TextInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.openx.data.jsonserde.JsonSerDe",
                        # A line that is not JSON reads as a row of nulls instead of failing the query.
                        parameters={"ignore.malformed.json": "true"},
                    ),
                    columns=[
                        glue.CfnTable.ColumnProperty(name=name, type=kind, comment=comment)
                        for name, (kind, comment) in COLUMNS.items()
                    ],
                ),
            ),
        )
