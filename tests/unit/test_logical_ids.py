"""Stateful resources keep their logical IDs: a rename would replace a bucket or key."""

from __future__ import annotations

from tests.synth import SynthesizedStage

STATEFUL = {
    "AWS::KMS::Key": [
        "LakeKey09476F72",
        "CuratedKey038C3558",
        "CaptureKey0B937016",
        "CatalogKey9CBE1E01",
        "DataScientistResultsKey6751FF92",
        "MlOpsResultsKey9E263396",
    ],
    "AWS::S3::Bucket": [
        "AccessLogs8B620ECA",
        "RawZone2D660746",
        "CuratedZone89FD8C71",
        "CaptureZone2B09F81B",
        "DataScientistResultsB2445327",
        "MlOpsResults6C6E488D",
    ],
    "AWS::Glue::Database": ["RawDatabase", "CuratedDatabase"],
    "AWS::LakeFormation::DataLakeSettings": ["LakeSettings"],
}


def test_stateful_logical_ids_are_stable(every_stage: SynthesizedStage) -> None:
    for resource_type, logical_ids in STATEFUL.items():
        assert sorted(every_stage.resources("DataLake", resource_type)) == sorted(logical_ids), resource_type
