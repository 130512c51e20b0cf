"""Exact quantiles from memory that does not grow with the data.

Spark's exact ``percentile`` aggregate keeps every distinct value of a column in one
buffer: measured values are nearly all distinct, so on a large training split it needs
memory in proportion to the data, and a worker ends with an OutOfMemoryError.
``percentile_approx`` keeps a bounded sketch, but its answer is approximate. This
module gets the exact answer from bounded memory, normally in two passes, once the
number of values of each column is known (the caller's summary counts them):

1. An approximate pass (``percentile_approx``: a Greenwald-Khanna sketch whose rank
   error is at most ``n / accuracy``) asks for the ranks a margin below and above
   each wanted rank: two values that bracket it (:meth:`QuantileQuery.sketches`).
2. An exact pass counts the values below, at and between the two ends of each
   bracket, and collects only the values strictly between them (at most about
   ``6 n / accuracy``). The wanted ranks are read from those; interpolated as
   Spark's ``percentile`` does, they give its result bit for bit.

What the counts and collected values establish also answers how many values lie
below a threshold near a wanted rank, and through any non-decreasing function of the
values (:meth:`QuantileQuery.count_below`): the drift baseline counts its bins in the
scaled feature space from the raw values, with no pass of its own.

The counts verify each bracket, so correctness never rests on the sketch's error
bound: a bracket that misses its rank is retried with a wider margin. A bracket that
could hold more than ``limit`` values (a column of more than ``limit * accuracy / 6``
values: 66 million with the defaults) is first narrowed by another approximate pass
over the values inside it, so no pass collects more than about ``limit`` values per
wanted position, however large the data.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

DEFAULT_ACCURACY = 20_000
DEFAULT_LIMIT = 20_000
FIRST_MARGIN = 2.0  # in units of the sketch's relative rank error, 1 / accuracy
WIDENING = 4.0
UNBOUNDED = (-math.inf, math.inf)
_BINS_PER_COLUMN = 1 << 32  # the exact pass's grouping key: column * this + bin


def as_double(name: str) -> Column:
    return F.col(name).cast("double")


def _sql_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _sql_double(value: float) -> str:
    """A finite double as Spark SQL literal text that parses back to the same double."""
    if not math.isfinite(value):
        raise ValueError(f"{value} has no Spark SQL literal")
    return f"{value!r}D"


def _sketch(values: Column, probabilities: Sequence[float], accuracy: int) -> Column:
    """``percentile_approx`` of ``values`` at many probabilities, the probabilities
    given as one SQL array: as a Python list, PySpark sends each of them into the JVM
    as a call of its own, and with a hundred per column, building the query cost more
    than the sketch pass at a million rows."""
    array = F.expr(f"array({', '.join(map(_sql_double, probabilities))})")
    return F.percentile_approx(values, array, accuracy)


def _bucketize(df: DataFrame, splits: Sequence[Sequence[float]], inputs: list[str], outputs: list[str]) -> DataFrame:
    """Spark ML's ``Bucketizer`` (one binary search per value) over several columns,
    keeping invalid values (nulls, read as NaN) in a bin of their own.

    Its parameters go to the JVM as JSON text, one call each: the Python wrapper sends
    each split as a call of its own, and a pass has hundreds of them.
    """
    encode = {-math.inf: "-Inf", math.inf: "Inf"}
    bucketizer = df.sparkSession._jvm.org.apache.spark.ml.feature.Bucketizer()  # type: ignore[union-attr]
    encoded = json.dumps([[encode.get(x, x) for x in column] for column in splits])
    bucketizer.setSplitsArray(bucketizer.splitsArray().jsonDecode(encoded))
    bucketizer.setInputCols(bucketizer.inputCols().jsonDecode(json.dumps(inputs)))
    bucketizer.setOutputCols(bucketizer.outputCols().jsonDecode(json.dumps(outputs)))
    bucketizer.setHandleInvalid("keep")
    return DataFrame(bucketizer.transform(df._jdf), df.sparkSession)


def _among(column: str, bins: Iterable[int]) -> Column:
    """Whether a bin column's value is one of ``bins`` (SQL text: one call into the JVM)."""
    listed = ", ".join(str(int(b)) for b in sorted(bins))
    return F.expr(f"{_sql_name(column)} IN ({listed})") if listed else F.lit(False)


def spark_percentile(position: float, value_at: Callable[[int], float]) -> float:
    """The value at ``position`` (``(n - 1) * p``) of sorted values, interpolated
    linearly between the two closest ranks, in the same arithmetic as Spark's
    ``percentile`` (so the results are identical)."""
    lower, higher = math.floor(position), math.ceil(position)
    low = value_at(lower)
    if higher == lower:
        return low
    high = value_at(higher)
    if high == low:
        return low
    return (higher - position) * low + (position - lower) * high


@dataclass(eq=False)
class _Target:
    """One wanted position of one column (Spark's ``percentile`` position ``(n - 1) * p``,
    or a rank), and what is known about where its two closest ranks lie.

    ``known`` is a verified bracket: the values at the target's ranks lie in
    ``[low, high]``, with ``below`` values under ``low``, ``at_low`` equal to it and
    ``size`` in the bracket. ``candidate`` is a narrower bracket a sketch proposed,
    not yet verified.
    """

    column: str
    position: float
    margin: float
    known: tuple[float, float] = UNBOUNDED
    below: int = 0
    at_low: int = 0
    size: int = 0
    candidate: tuple[float, float] | None = None
    done: bool = False
    inside: tuple[float, ...] = ()

    @property
    def ranks(self) -> tuple[int, int]:
        return math.floor(self.position), math.ceil(self.position)

    def local_probabilities(self) -> list[float]:
        """The target's ranks as fractions of the known bracket, widened by the margin."""
        low = (math.floor(self.position) - self.below + 1) / self.size - self.margin
        high = (math.ceil(self.position) - self.below + 1) / self.size + self.margin
        return [max(0.0, low), min(1.0, high)]

    def collects(self, accuracy: int, limit: int) -> bool:
        """Whether the candidate's inner values are few enough to collect now: at most
        the margin on each side plus the sketch's rank error, if the sketch keeps its
        promise, or the whole known bracket once the margin covers it."""
        bound = math.ceil(2 * (self.margin + 1 / accuracy) * self.size) + 2
        return bound <= limit or self.candidate == self.known

    def proposed(self) -> tuple[float, float]:
        if self.candidate is None:
            raise RuntimeError(f"no bracket proposed for {self.column} at position {self.position}")
        return self.candidate

    def verify(self, bracket: tuple[float, float], *, below: int, at_low: int, inside: int, at_high: int) -> bool:
        """Adopt ``bracket`` as known if its counts show it holds the target's ranks."""
        size = at_low + inside + at_high
        if not (below <= math.floor(self.position) and math.ceil(self.position) < below + size):
            return False
        self.known, self.below, self.at_low, self.size = bracket, below, at_low, size
        return True

    def pick(self, inside: list[float]) -> None:
        """Keep the sorted values strictly inside the known bracket: with its counts,
        they are every value of the ranks ``below`` to ``below + size - 1``."""
        self.inside = tuple(inside)
        self.done = True


class _Ranks:
    """What the exact passes established about one column's ``count`` values: at each
    value they met, how many values lie below it and how many at or below it."""

    def __init__(self, count: int, points: Mapping[float, tuple[int, int]]) -> None:
        self.count = count
        self.values = sorted(points)
        self.below = [points[v][0] for v in self.values]
        self.at_most = [points[v][1] for v in self.values]

    @classmethod
    def of_targets(cls, count: int, targets: Sequence[_Target]) -> _Ranks:
        """From resolved targets: their bracket ends and the values collected between."""
        points: dict[float, tuple[int, int]] = {}
        for t in targets:
            low, high = t.known
            start = t.below + t.at_low
            points[low] = (t.below, start)
            for value, copies in itertools.groupby(t.inside):
                points[value] = (start, start := start + sum(1 for _ in copies))
            if high > low:
                points[high] = (start, t.below + t.size)
        return cls(count, points)

    @classmethod
    def of_tally(cls, count: int, tally: Mapping[float, int]) -> _Ranks:
        """From a count of every value the column takes."""
        points: dict[float, tuple[int, int]] = {}
        below = 0
        for value in sorted(tally):
            if tally[value]:
                points[value] = (below, below := below + tally[value])
        return cls(count, points)

    def value_at(self, rank: int) -> float:
        """The value of ``rank`` (0 is the smallest) in sorted order."""
        i = bisect.bisect_right(self.at_most, rank)
        if i == len(self.values) or self.below[i] > rank:
            raise LookupError(f"rank {rank} is not within a resolved bracket")
        return self.values[i]

    def count_below(self, threshold: float, key: Callable[[float], float]) -> int | None:
        """The number of values whose ``key`` (non-decreasing) is below ``threshold``,
        or None if what is known cannot tell: the values between the last known value
        whose key is below and the first whose key is not are unknown, and neither
        value's neighbouring double shows which side they all fall on."""
        i = bisect.bisect_left(self.values, threshold, key=key)
        if i < len(self.values):
            gap_free = self.below[i] == (self.at_most[i - 1] if i else 0)
            if gap_free or key(math.nextafter(self.values[i], -math.inf)) < threshold:
                return self.below[i]
        if i and (self.at_most[i - 1] == self.count or key(math.nextafter(self.values[i - 1], math.inf)) >= threshold):
            return self.at_most[i - 1]
        return None


class _Cuts:
    """The bins of one column for an exact pass: cut at each end ``e`` and at the next
    double above it, so bin ``[e, next(e))`` holds the values equal to ``e``."""

    def __init__(self, ends: Sequence[float]) -> None:
        inner = sorted({x for e in ends for x in (e, math.nextafter(e, math.inf))} - {-math.inf, math.inf})
        self.splits = [-math.inf, *inner, math.inf]
        self._start = {x: i for i, x in enumerate(self.splits)}

    def below(self, counts: Mapping[int, int], value: float) -> int:
        """The number of values under ``value`` (an end), from the counts per bin."""
        return sum(rows for b, rows in counts.items() if b < self._start[value])

    def equal(self, counts: Mapping[int, int], value: float) -> int:
        """The number of values equal to ``value`` (an end): its own bin's count."""
        return counts.get(self._start[value], 0)

    def inside(self, low: float, high: float) -> range:
        """The bins holding the values strictly between two ends."""
        return range(self._start[math.nextafter(low, math.inf)], self._start[high])


class QuantileQuery:
    """Exact order statistics of numeric columns at wanted positions (:meth:`want`).

    ``accuracy`` is the sketch's (``percentile_approx``'s); ``limit`` the most values
    collected for one position when the sketch keeps its promise. Nulls are ignored,
    as by ``percentile``; NaN is not supported. After :meth:`resolve`, ``passes``
    counts the passes over the data (the sketch pass included) and ``most_collected``
    is the largest number of values collected for one column in one pass.
    """

    def __init__(self, *, accuracy: int = DEFAULT_ACCURACY, limit: int = DEFAULT_LIMIT) -> None:
        self.accuracy = accuracy
        self.limit = limit
        self.margin = FIRST_MARGIN / accuracy
        self.passes = 0
        self.most_collected = 0
        self._targets: list[_Target] = []
        self._counts: dict[str, int] = {}
        self._takes: dict[str, list[float]] = {}
        self._ranks: dict[str, _Ranks] = {}

    def count_each(self, column: str, count: int, values: Iterable[float]) -> None:
        """Say that ``column`` takes only ``values`` (nulls apart; an integer feature
        with a small range, say): the exact pass counts each value, which answers every
        rank, so the column needs no sketch. Call it before :meth:`want`."""
        if any(t.column == column for t in self._targets):
            raise ValueError(f"{column} already has wanted positions")
        self._counts[column] = count
        self._takes[column] = sorted({float(v) for v in values})

    def want(self, column: str, count: int, wanted: Iterable[float]) -> None:
        """Ask for the values at ``wanted`` positions (ranks, or :func:`positions` of
        probabilities) of ``column``, which has ``count`` values (nulls apart; with
        none, nothing is wanted)."""
        if self._counts.setdefault(column, count) != count:
            raise ValueError(f"{column} was wanted with {self._counts[column]} values, now with {count}")
        covered = {t.ranks for t in self._targets if t.column == column}
        for position in wanted if count else ():
            if not 0 <= position <= count - 1:
                raise ValueError(f"position {position} is outside the {count} values of {column}")
            target = _Target(column, float(position), self.margin, size=count)
            if column not in self._takes and target.ranks not in covered:
                covered.add(target.ranks)
                self._targets.append(target)

    def _sketched(self) -> dict[str, list[_Target]]:
        sketched: dict[str, list[_Target]] = {}
        for t in self._targets:
            if not t.done:
                sketched.setdefault(t.column, []).append(t)
        return sketched

    def sketches(self) -> list[Column]:
        """The approximate pass's aggregates: run them in one ``agg`` (with any others)
        over the data and pass the resulting row to :meth:`resolve`."""
        return [
            _sketch(as_double(name), [p for t in targets for p in t.local_probabilities()], self.accuracy).alias(
                f"_quantile_sketch_{name}"
            )
            for name, targets in self._sketched().items()
        ]

    def resolve(self, df: DataFrame, first: Any) -> None:
        """Find every wanted position's values exactly.

        ``first`` is the row of an aggregate over ``df`` that included
        :meth:`sketches`; the further passes run over ``df``, which must give the same
        rows (a deterministic plan, such as a read of stored files and filters).
        """
        sketched = self._sketched()
        self.passes, self.most_collected = (1 if sketched else 0), 0
        for name, targets in sketched.items():
            ends = first[f"_quantile_sketch_{name}"]
            for i, target in enumerate(targets):
                target.candidate = (ends[2 * i], ends[2 * i + 1])
        tallied = {name: values for name, values in self._takes.items() if self._counts[name]}
        while (pending := [t for t in self._targets if not t.done]) or tallied:
            unverified = [t for t in pending if t.candidate is not None]
            if unverified or tallied:
                self._count(df, unverified, tallied)
                tallied = {}
            if unbracketed := [t for t in pending if not t.done and t.candidate is None]:
                self._narrow(df, unbracketed)
        for name, count in self._counts.items():
            if name not in self._takes:
                self._ranks[name] = _Ranks.of_targets(count, [t for t in self._targets if t.column == name])

    def run(self, df: DataFrame) -> None:
        """The sketch pass, then :meth:`resolve`."""
        self.resolve(df, df.agg(*self.sketches()).first() if self._sketched() else {})

    def value_at(self, column: str, rank: int) -> float:
        """The value of a wanted rank of ``column`` (0 is the smallest), after :meth:`resolve`."""
        return self._ranks[column].value_at(rank)

    def percentile(self, column: str, position: float) -> float | None:
        """The value at a wanted position, interpolated as Spark's ``percentile`` does
        (None for a column without values)."""
        if not self._counts[column]:
            return None
        return spark_percentile(position, lambda rank: self.value_at(column, rank))

    def count_below(self, column: str, threshold: float, key: Callable[[float], float] = float) -> int | None:
        """The number of values of ``column`` whose ``key`` (a non-decreasing function,
        the value itself by default) is below ``threshold``, from what the exact pass
        counted and collected. Answered for thresholds at or between the keys of a
        wanted rank's values; None where that knowledge cannot tell."""
        return self._ranks[column].count_below(threshold, key)

    def _count(self, df: DataFrame, targets: list[_Target], tallied: Mapping[str, list[float]]) -> None:
        """One exact pass: counts around every candidate, and the values strictly inside
        the candidates that are small enough to collect (:meth:`_Target.collects`);
        and a count of each value of the ``tallied`` columns (:meth:`count_each`).

        Each column is cut at every candidate end ``e`` and just above it (the next
        double, so the bin ``[e, next)`` holds exactly the values equal to ``e``), one
        binary search per value (Spark ML's ``Bucketizer``). One hash aggregate, grouped
        by column and bin (one number) and by the value in the bins inside collected
        candidates (null elsewhere), counts each bin and each collected value. Every
        count a bracket needs is a sum of bins, so the pass costs the same for 3
        quantiles or 99.
        """
        columns = sorted({t.column for t in targets} | set(tallied))
        cuts = {
            name: _Cuts([*tallied.get(name, []), *(e for t in targets if t.column == name for e in t.proposed())])
            for name in columns
        }
        collecting = [t for t in targets if t.collects(self.accuracy, self.limit)]
        wanted: dict[str, set[int]] = {name: set() for name in columns}
        for t in collecting:
            wanted[t.column].update(cuts[t.column].inside(*t.proposed()))
        binned = _bucketize(
            df.select(*[F.coalesce(as_double(n), F.lit(math.nan)).alias(f"_in_{i}") for i, n in enumerate(columns)]),
            [cuts[name].splits for name in columns],
            [f"_in_{i}" for i in range(len(columns))],
            [f"_bin_{i}" for i in range(len(columns))],
        )
        cells = [
            F.struct(
                (F.lit(i * _BINS_PER_COLUMN) + F.col(f"_bin_{i}")).cast("long").alias("key"),
                F.when(_among(f"_bin_{i}", wanted[n]), F.col(f"_in_{i}")).alias("value"),
            )
            for i, n in enumerate(columns)
        ]
        cell = binned.select(F.explode(F.array(*cells)).alias("cell")).select("cell.*")
        tally = cell.groupBy("key", "value").agg(F.count(F.lit(1)).alias("rows"))
        copies = F.when(F.col("value").isNotNull(), F.array_repeat("value", F.col("rows").cast("int")))
        per_bin = tally.groupBy("key").agg(F.sum("rows").alias("rows"), F.flatten(F.collect_list(copies)))
        self.passes += 1
        counts: dict[str, dict[int, int]] = {name: {} for name in columns}
        values: dict[str, dict[int, list[float]]] = {name: {} for name in columns}
        for cell_key, rows, inside in per_bin.collect():
            name, bin_ = columns[cell_key // _BINS_PER_COLUMN], cell_key % _BINS_PER_COLUMN
            counts[name][bin_] = rows
            values[name][bin_] = inside
        self.most_collected = max([self.most_collected, *(sum(map(len, v.values())) for v in values.values())])
        for name, taken in tallied.items():
            each = {v: cuts[name].equal(counts[name], v) for v in taken}
            if sum(each.values()) != self._counts[name]:
                raise ValueError(f"{name} has values other than the {len(taken)} it was said to take")
            self._ranks[name] = _Ranks.of_tally(self._counts[name], each)
        for t in targets:
            low, high = t.proposed()
            c, n = cuts[t.column], counts[t.column]
            spread = high > low
            t.candidate = None
            if not t.verify(
                (low, high),
                below=c.below(n, low),
                at_low=c.equal(n, low),
                inside=sum(n.get(b, 0) for b in c.inside(low, high)) if spread else 0,
                at_high=c.equal(n, high) if spread else 0,
            ):
                t.margin *= WIDENING
            elif t in collecting:
                t.pick(sorted(v for b in c.inside(low, high) for v in values[t.column].get(b, [])))
            else:
                t.margin = self.margin

    def _narrow(self, df: DataFrame, targets: list[_Target]) -> None:
        """Propose brackets inside the known ones: one approximate pass over the values
        in each known bracket, or the whole known bracket once the margin covers it."""
        sketched = []
        for t in targets:
            local = t.local_probabilities()
            if local == [0.0, 1.0]:
                t.candidate = t.known
            else:
                sketched.append((t, local))
        if not sketched:
            return
        sketches = []
        for t, local in sketched:
            x, (low, high) = as_double(t.column), t.known
            sketches.append(_sketch(F.when((x >= low) & (x <= high), x), local, self.accuracy))
        row = df.agg(*sketches).first()
        self.passes += 1
        if row is None:
            raise RuntimeError("an aggregate returned no row")
        for (t, _), ends in zip(sketched, row, strict=True):
            t.candidate = (ends[0], ends[1])


def positions(count: int, probabilities: Sequence[float]) -> list[float]:
    """Spark's ``percentile`` positions, ``(n - 1) * p`` in double arithmetic."""
    if any(not 0.0 <= p <= 1.0 for p in probabilities):
        raise ValueError(f"probabilities must be in [0, 1], got {list(probabilities)}")
    return [float(count - 1) * p for p in probabilities]


def exact_quantiles(
    df: DataFrame,
    columns: Sequence[str],
    probabilities: Sequence[float],
    *,
    accuracy: int = DEFAULT_ACCURACY,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, list[float | None]]:
    """Exact quantiles of ``columns`` (as ``percentile`` gives them) in bounded memory:
    a pass that counts each column's values, then a :class:`QuantileQuery`."""
    row = df.agg(*[F.count(as_double(c)) for c in columns]).first()
    counts = [int(n) for n in row or [0] * len(columns)]
    wanted = {name: positions(count, probabilities) for name, count in zip(columns, counts, strict=True)}
    query = QuantileQuery(accuracy=accuracy, limit=limit)
    for name, count in zip(columns, counts, strict=True):
        query.want(name, count, wanted[name])
    query.run(df)
    return {name: [query.percentile(name, at) for at in at_positions] for name, at_positions in wanted.items()}
