"""Container image URIs of the SageMaker built-in XGBoost algorithm, resolved offline.

The SageMaker Python SDK owns the registry of built-in algorithm images: one ECR
account per region and version (``image_uri_config/xgboost.json`` in the
``sagemaker-core`` distribution for SDK v3, ``sagemaker/image_uri_config`` in v2),
combined with botocore's endpoint data for the ECR host name of each partition
(``amazonaws.com``, ``amazonaws.com.cn`` in China, ``c2s.ic.gov`` and others in the
isolated partitions). The SDK is large and slow to import, so synth never imports
it: :func:`xgboost_image_uri` reads ``xgboost_image_uris.json`` beside this module,
a committed cache of full URIs per version and region.

``python -m stacks.image_uris --refresh`` regenerates the cache from the installed
SDK (through ``image_uris.retrieve`` when the SDK imports, otherwise from the
registry file the installed distribution ships plus botocore's endpoint data);
``--check`` fails when the cache differs from what the SDK resolves.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

FRAMEWORK = "xgboost"
IMAGE_SCOPE = "inference"
DEFAULT_VERSION = "1.7-1"
CACHED_VERSIONS = ("1.7-1", "3.0-5", "3.2-0")
CACHE_FILE = Path(__file__).with_name("xgboost_image_uris.json")
ECR_URI_TEMPLATE = "{registry}.dkr.{hostname}/{repository}:{tag}"

# Where each SDK generation ships the registry: (distribution, file inside it).
REGISTRY_FILES = (
    ("sagemaker-core", "sagemaker/core/image_uri_config/xgboost.json"),
    ("sagemaker", "sagemaker/image_uri_config/xgboost.json"),
)
# The SDK's own fallback for a region botocore's endpoint data may not list yet.
ECR_HOSTNAME_FALLBACK = {"il-central-1": "ecr.il-central-1.amazonaws.com"}

VersionUris = dict[str, Any]


@lru_cache(maxsize=1)
def load_cache() -> dict[str, Any]:
    """The committed cache, parsed once per process."""
    document: dict[str, Any] = json.loads(CACHE_FILE.read_text(encoding="utf-8"))
    return document


def cached_versions() -> list[str]:
    """XGBoost container versions the cache holds."""
    return sorted(load_cache()["versions"])


def image_uris_by_region(version: str = DEFAULT_VERSION) -> dict[str, str]:
    """Region -> image URI for one container version (e.g. for a CfnMapping)."""
    versions: dict[str, VersionUris] = load_cache()["versions"]
    if version not in versions:
        raise ValueError(
            f"SageMaker XGBoost container version {version!r} is not in {CACHE_FILE.name}; "
            f"cached versions: {', '.join(sorted(versions))}. Add it with "
            f"`python -m stacks.image_uris --refresh --versions {version}`."
        )
    uris: dict[str, str] = dict(versions[version]["uris"])
    return uris


def xgboost_image_uri(region: str, version: str = DEFAULT_VERSION) -> str:
    """The ECR image URI of the built-in XGBoost container for a concrete region."""
    uris = image_uris_by_region(version)
    if region.startswith("${Token["):
        raise ValueError(
            "the SageMaker XGBoost image URI needs a concrete region, got an unresolved "
            f"token {region!r}: give the stack an explicit env region, or map "
            "image_uris_by_region() through a CfnMapping"
        )
    if region not in uris:
        raise ValueError(
            f"no SageMaker XGBoost {version} image is known for region {region!r}; "
            f"known regions: {', '.join(sorted(uris))}"
        )
    return uris[region]


def _version_entry(uris: dict[str, str]) -> VersionUris:
    """Cache entry of one version: shared repository and tag, plus the URI per region."""
    repositories = {uri.split("/", 1)[1] for uri in uris.values()}
    if len(repositories) != 1:
        raise ValueError(f"expected one repository:tag across regions, got {sorted(repositories)}")
    repository, tag = repositories.pop().rsplit(":", 1)
    return {"repository": repository, "tag": tag, "uris": dict(sorted(uris.items()))}


def _scope_config(config: dict[str, Any]) -> dict[str, Any]:
    """The inference part of a framework config (flat in old files, scoped in new ones)."""
    if "versions" in config:
        return config
    scoped: dict[str, Any] = config[IMAGE_SCOPE]
    return scoped


def _version_config(config: dict[str, Any], version: str) -> dict[str, Any]:
    scope = _scope_config(config)
    version = scope.get("version_aliases", {}).get(version, version)
    if version not in scope["versions"]:
        raise ValueError(
            f"the SageMaker registry has no XGBoost {IMAGE_SCOPE} version {version!r}; "
            f"it has {', '.join(scope['versions'])}"
        )
    found: dict[str, Any] = scope["versions"][version]
    return found


def _import_sdk() -> Any:
    """The SDK's image_uris module (v3 first, then v2); ImportError when neither imports."""
    try:
        from sagemaker.core import image_uris as sdk_image_uris

        return sdk_image_uris
    except ImportError as v3_error:
        try:
            from sagemaker import image_uris as sdk_image_uris

            return sdk_image_uris
        except ImportError:
            raise ImportError(f"the SageMaker Python SDK does not import: {v3_error}") from None


@contextmanager
def _shared_endpoint_resolver(sdk: Any) -> Iterator[None]:
    """Let the SDK reuse one botocore endpoint resolver across ``retrieve`` calls.

    The SDK builds a new resolver (parsing botocore's endpoint data) on every call,
    about 50 ms each; the resolver is stateless, so sharing it changes no result.
    """
    utils: Any = getattr(sdk, "utils", None)
    original = getattr(utils, "_botocore_resolver", None)
    if original is None:
        yield
        return
    utils._botocore_resolver = lru_cache(maxsize=1)(original)
    try:
        yield
    finally:
        utils._botocore_resolver = original


def resolve_with_sdk(versions: Sequence[str] = CACHED_VERSIONS) -> dict[str, VersionUris]:
    """Cache entries computed by the SDK's own ``image_uris.retrieve`` for every region."""
    sdk = _import_sdk()
    config = sdk.config_for_framework(FRAMEWORK)
    resolved: dict[str, VersionUris] = {}
    with _shared_endpoint_resolver(sdk):
        for version in versions:
            regions = sorted(_version_config(config, version)["registries"])
            uris = {
                region: str(
                    sdk.retrieve(
                        framework=FRAMEWORK,
                        region=region,
                        version=version,
                        image_scope=IMAGE_SCOPE,
                    )
                )
                for region in regions
            }
            resolved[version] = _version_entry(uris)
    return resolved


def registry_file() -> tuple[str, str, Path]:
    """(distribution, its version, path) of the installed registry file, without importing it."""
    for distribution, relative in REGISTRY_FILES:
        try:
            dist = metadata.distribution(distribution)
        except metadata.PackageNotFoundError:
            continue
        path = Path(str(dist.locate_file(relative)))
        if path.is_file():
            return distribution, dist.version, path
    names = ", ".join(d for d, _ in REGISTRY_FILES)
    raise FileNotFoundError(f"no SageMaker SDK registry file installed (looked in {names})")


@lru_cache(maxsize=1)
def _endpoint_resolver() -> Any:
    import botocore.loaders
    import botocore.regions

    return botocore.regions.EndpointResolver(botocore.loaders.create_loader().load_data("endpoints"))


def ecr_hostname(region: str) -> str:
    """ECR host name of a region from botocore's endpoint data, as the SDK derives it."""
    endpoint = _endpoint_resolver().construct_endpoint("ecr", region)
    if endpoint:
        return str(endpoint["hostname"])
    if region in ECR_HOSTNAME_FALLBACK:
        return ECR_HOSTNAME_FALLBACK[region]
    raise ValueError(f"botocore has no ECR endpoint for region {region!r}")


def resolve_from_registry_file(versions: Sequence[str] = CACHED_VERSIONS) -> dict[str, VersionUris]:
    """Cache entries computed from the installed registry file and botocore, no SDK import."""
    _, _, path = registry_file()
    config = json.loads(path.read_text(encoding="utf-8"))
    resolved: dict[str, VersionUris] = {}
    for version in versions:
        entry = _version_config(config, version)
        unsupported = {"processors", "py_versions", "container_version", "tag_prefix"} & set(entry)
        if unsupported:
            raise ValueError(
                f"XGBoost {version} tags depend on {sorted(unsupported)}; refresh with the SDK "
                "installed so image_uris.retrieve builds the tag"
            )
        uris = {
            region: ECR_URI_TEMPLATE.format(
                registry=registry,
                hostname=ecr_hostname(region),
                repository=entry["repository"],
                tag=version,
            )
            for region, registry in sorted(entry["registries"].items())
        }
        resolved[version] = _version_entry(uris)
    return resolved


def build_cache(versions: Sequence[str] = CACHED_VERSIONS) -> dict[str, Any]:
    """A fresh cache document: SDK resolution when it imports, else the registry file."""
    try:
        resolved = resolve_with_sdk(versions)
    except ImportError:
        resolved = resolve_from_registry_file(versions)
    distribution, sdk_version, _ = registry_file()
    return {
        "framework": FRAMEWORK,
        "image_scope": IMAGE_SCOPE,
        "source": {"distribution": distribution, "version": sdk_version},
        "versions": dict(sorted(resolved.items())),
    }


def render(document: dict[str, Any]) -> str:
    """The cache file text: stable key order and indentation, so diffs stay reviewable."""
    return json.dumps(document, indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stacks.image_uris",
        description="Look up or refresh the cached SageMaker XGBoost image URIs.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--refresh", action="store_true", help="rewrite the cache from the SDK")
    action.add_argument("--check", action="store_true", help="fail if the cache is out of date")
    action.add_argument("--region", help="print the image URI for this region")
    parser.add_argument("--version", default=DEFAULT_VERSION, help="container version to print")
    parser.add_argument(
        "--versions",
        nargs="+",
        default=None,
        help=f"container versions to cache (default: those cached, else {CACHED_VERSIONS})",
    )
    args = parser.parse_args(argv)

    if args.region:
        try:
            print(xgboost_image_uri(args.region, args.version))
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0

    versions = args.versions or (cached_versions() if CACHE_FILE.exists() else CACHED_VERSIONS)
    try:
        document = build_cache(versions)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.check:
        current = load_cache() if CACHE_FILE.exists() else {"versions": {}}
        if current["versions"] != document["versions"]:
            print(f"{CACHE_FILE} is out of date: run python -m stacks.image_uris --refresh")
            return 1
        print(f"{CACHE_FILE} matches {document['source']['distribution']} {document['source']['version']}")
        return 0
    CACHE_FILE.write_text(render(document), encoding="utf-8")
    total = sum(len(v["uris"]) for v in document["versions"].values())
    print(f"wrote {CACHE_FILE}: {len(document['versions'])} versions, {total} region URIs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
