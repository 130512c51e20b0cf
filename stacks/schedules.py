"""EventBridge schedule expressions, `cron(...)` and `rate(...)`, checked at synth.

EventBridge and Glue triggers share the cron grammar: six fields (minutes, hours,
day-of-month, month, day-of-week, year) with `, - * /` everywhere, `?` `L` `W` in
day-of-month, `?` `L` `#` in day-of-week, and exactly one of the two day fields `?`.
CloudFormation takes any string and the service rejects a bad one at deploy time;
:func:`schedule_problem` rejects it at synth, with the reason.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
RATE = re.compile(r"rate\(([1-9][0-9]{0,5}) (minutes?|hours?|days?)\)", re.ASCII)
RATE_MINUTES = {"minute": 1, "hour": 60, "day": 1440}
RATE_SYNTAX = "rate(<positive integer> minute|minutes|hour|hours|day|days)"
NUMBER = re.compile(r"[0-9]{1,4}", re.ASCII)


@dataclass(frozen=True)
class CronField:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    special: re.Pattern[str] | None = None  # whole-field forms such as L, 15W, 6#3


FIELDS = (
    CronField("minutes", 0, 59),
    CronField("hours", 0, 23),
    CronField("day-of-month", 1, 31, special=re.compile(r"L|LW|([1-9]|[12][0-9]|3[01])W", re.ASCII)),
    CronField("month", 1, 12, MONTHS),
    CronField("day-of-week", 1, 7, DAYS, special=re.compile(r"L|[1-7]L|[1-7]#[1-5]", re.IGNORECASE | re.ASCII)),
    CronField("year", 1970, 2199),
)
DAY_OF_MONTH, DAY_OF_WEEK = 2, 4
CRON_SYNTAX = "cron(minutes hours day-of-month month day-of-week year)"


class ScheduleError(ValueError):
    """Why an expression is not a schedule the service accepts."""


def _value(text: str, spec: CronField) -> int:
    upper = text.upper()
    if upper in spec.names:
        return spec.low + spec.names.index(upper)
    if not NUMBER.fullmatch(text) or not spec.low <= int(text) <= spec.high:
        allowed = f"{spec.low}-{spec.high}" + (f" or {spec.names[0]}-{spec.names[-1]}" if spec.names else "")
        raise ScheduleError(f"{spec.name} value {text!r} is not {allowed}")
    return int(text)


def _item(text: str, spec: CronField) -> set[int]:
    """The values one comma-separated item selects: `*`, `a`, `a-b`, `*/n` or `a/n`."""
    start, slash, step_text = text.partition("/")
    if slash:
        if not NUMBER.fullmatch(step_text) or not 1 <= int(step_text) <= spec.high:
            raise ScheduleError(f"{spec.name} increment {step_text!r} is not 1-{spec.high}")
        first = spec.low if start == "*" else _value(start, spec)
        return set(range(first, spec.high + 1, int(step_text)))
    if text == "*":
        return set(range(spec.low, spec.high + 1))
    low_text, dash, high_text = text.partition("-")
    if dash:
        low, high = _value(low_text, spec), _value(high_text, spec)
        if low > high:
            raise ScheduleError(f"{spec.name} range {text!r} runs backwards")
        return set(range(low, high + 1))
    return {_value(text, spec)}


def _field(text: str, spec: CronField) -> set[int] | None:
    """The values a field selects; None for the forms that name no fixed set (`?`, L, W, #)."""
    if text == "?":
        if spec.special is None:
            raise ScheduleError(f"'?' is allowed only in day-of-month and day-of-week, not in {spec.name}")
        return None
    if spec.special is not None and spec.special.fullmatch(text):
        return None
    values: set[int] = set()
    for item in text.split(","):
        values |= _item(item, spec)
    return values


def parse_cron(expression: str) -> list[set[int] | None]:
    """The values each field selects; ScheduleError when EventBridge would reject it."""
    if not (expression.startswith("cron(") and expression.endswith(")")):
        raise ScheduleError(f"expected {CRON_SYNTAX}")
    parts = expression[5:-1].split(" ")
    if len(parts) != len(FIELDS) or not all(parts):
        raise ScheduleError(f"expected six fields separated by single spaces: {CRON_SYNTAX}")
    fields = [_field(text, spec) for text, spec in zip(parts, FIELDS, strict=True)]
    if (parts[DAY_OF_MONTH] == "?") == (parts[DAY_OF_WEEK] == "?"):
        raise ScheduleError("exactly one of day-of-month and day-of-week must be '?'")
    return fields


def _cron_interval_minutes(fields: list[set[int] | None]) -> int:
    """The shortest time between two runs within a day, from the minutes and hours fields."""
    minutes, hours = sorted(fields[0] or ()), fields[1] or set()
    gaps = [b - a for a, b in itertools.pairwise(minutes)]
    if any((hour + 1) % 24 in hours for hour in hours):
        gaps.append(60 - minutes[-1] + minutes[0])  # the last run of one hour to the first of the next
    return min(gaps, default=24 * 60)


def schedule_problem(expression: str, *, rate: bool = True, min_interval_minutes: int = 1) -> str | None:
    """Why `expression` is not an accepted schedule, or None.

    `rate` allows `rate(n unit)` besides cron; `min_interval_minutes` is the shortest
    period the target service accepts (Glue triggers: 5 minutes).
    """
    if expression.startswith("rate("):
        if not rate:
            return f"takes cron expressions only: {CRON_SYNTAX}"
        match = RATE.fullmatch(expression)
        if match is None:
            return f"expected {RATE_SYNTAX}"
        value, unit = int(match[1]), match[2]
        if (value == 1) != (not unit.endswith("s")):
            return f"rate({value} ...) takes the {'singular' if value == 1 else 'plural'} unit"
        period = value * RATE_MINUTES[unit.rstrip("s")]
    elif rate and not expression.startswith("cron("):
        return f"expected {RATE_SYNTAX} or {CRON_SYNTAX}"
    else:
        try:
            period = _cron_interval_minutes(parse_cron(expression))
        except ScheduleError as error:
            return str(error)
    if period < min_interval_minutes:
        return f"runs every {period} minute(s); the shortest period allowed is {min_interval_minutes} minutes"
    return None
