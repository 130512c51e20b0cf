"""Identifiers a stage names: IAM principal ARNs and e-mail addresses, with the services' rules.

Each check returns why a value is refused (or None), and each kind has a key under which
two spellings of the same principal or mailbox compare equal, so that a list cannot
name it twice.
"""

from __future__ import annotations

import re

from stacks.regions import known_partitions

# IAM: a path is `/` or `/segments/` of printable ASCII (at most 512 characters); a role or
# user name is 1-64 of [A-Za-z0-9+=,.@_-], unique in the account regardless of case.
IAM_ARN = re.compile(
    r"arn:(?P<partition>[a-z-]+):iam::(?P<account>[0-9]{12}):(?P<kind>role|user)"
    r"(?P<path>/(?:[\x21-\x2e\x30-\x7e]+/)*)(?P<name>[A-Za-z0-9+=,.@_-]{1,64})",
    re.ASCII,
)
IAM_ARN_PATTERN = r"arn:<partition>:iam::<12 digits>:(role|user)/[<path>/]<name>"
MAX_IAM_PATH = 512
# E-mail: the dot-atom local part most mail systems accept (no quoted forms, no '/'),
# a domain of LDH labels, RFC 5321 lengths (local 64, domain 253, address 254).
EMAIL = re.compile(
    r"(?P<local>[A-Za-z0-9!#$%&'*+=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+=?^_`{|}~-]+)*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})",
    re.ASCII,
)
EMAIL_PATTERN = "local@domain.tld"


def iam_arn_problem(value: str) -> str | None:
    match = IAM_ARN.fullmatch(value)
    if match is None:
        return f"must be an IAM role or user ARN {IAM_ARN_PATTERN} in ASCII (names: 1-64 of A-Z a-z 0-9 +=,.@_-)"
    if match["partition"] not in known_partitions():
        return f"names the partition {match['partition']!r}; known partitions are {sorted(known_partitions())}"
    if len(match["path"]) > MAX_IAM_PATH:
        return f"has an IAM path longer than {MAX_IAM_PATH} characters"
    return None


def iam_arn_partition(value: str) -> str:
    match = IAM_ARN.fullmatch(value)
    return match["partition"] if match else ""


def iam_principal_key(value: str) -> str:
    """IAM names are unique per account and kind regardless of case and path."""
    match = IAM_ARN.fullmatch(value)
    if match is None:
        return value
    return f"{match['partition']}:{match['account']}:{match['kind']}/{match['name'].lower()}"


def email_problem(value: str) -> str | None:
    match = EMAIL.fullmatch(value)
    if match is None:
        return (
            f"must be an e-mail address {EMAIL_PATTERN} in ASCII (local part: letters, digits, dots and "
            "!#$%&'*+=?^_`{|}~-; domain: letters, digits and hyphens)"
        )
    if len(match["local"]) > 64 or len(match["domain"]) > 253 or len(value) > 254:
        return "is too long: at most 64 characters before '@', 253 after it and 254 in all"
    return None


def mailbox_key(value: str) -> str:
    """Domains are case-insensitive, and mail systems treat local parts so too in practice."""
    return value.lower()
