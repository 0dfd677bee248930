"""Axis ticks for the SVG charts: "nice" values (steps of 1, 2 or 5 times a
power of ten) that cover a range, and their labels.

A tick is kept as an integer count of steps and a power of ten, so its
label is written from integers (0.3 prints as "0.3", never as
0.30000000000000004) and the same range always gives the same ticks and
the same text. A logarithmic axis (`log_ticks`) has its ticks at powers of
ten, and at 2 and 5 times them when it spans fewer than three decades.
Both kinds say where a value falls along the axis (`fraction`). Pure
functions: no I/O, nothing imported but math.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

STEP_MANTISSAS = (1, 2, 5)
INTERVALS_WANTED = 5
VALUE_MAX = 1e300  # beyond it a covering tick may not be a float
SPAN_MIN = 1e-290  # below it a fifth of the span may not be a normal float
RELATIVE_SPAN_MIN = 1e-9  # a span narrower than this part of the values' size cannot be cut in float steps
FIXED_EXPONENT_MIN = -4  # steps from 0.0001 ...
FIXED_EXPONENT_MAX = 5   # ... to 500,000 print as plain decimals; others as 2e6, 5e-7


def _power(exponent: int) -> float:
    return 10.0 ** exponent if exponent >= 0 else 1 / 10 ** -exponent


def _scaled(count: int, exponent: int) -> float:
    """count x 10^exponent as the float nearest that decimal."""
    return float(count * 10 ** exponent) if exponent >= 0 else count / 10 ** -exponent


def nice_step(span: float, intervals: int = INTERVALS_WANTED) -> tuple[int, int]:
    """The smallest step m x 10^e (m in 1, 2, 5) that is at least span/intervals,
    as (m, e)."""
    if not (math.isfinite(span) and span > 0) or intervals < 1:
        raise ValueError(f"a step needs a positive finite span and intervals, not {span!r}, {intervals!r}")
    raw = span / intervals
    exponent = math.floor(math.log10(raw))
    while _power(exponent) > raw:  # log10 may be off by one at exact powers of ten
        exponent -= 1
    while _power(exponent + 1) <= raw:
        exponent += 1
    for mantissa in STEP_MANTISSAS:
        if _scaled(mantissa, exponent) >= raw:
            return mantissa, exponent
    return 1, exponent + 1


@dataclass(frozen=True, slots=True)
class Ticks:
    """Ticks first..last steps of mantissa x 10^exponent: tick i is
    (first + i) x mantissa x 10^exponent."""

    first: int
    last: int
    mantissa: int
    exponent: int

    @property
    def values(self) -> list[float]:
        return [_scaled(k * self.mantissa, self.exponent) for k in range(self.first, self.last + 1)]

    @property
    def labels(self) -> list[str]:
        return [tick_label(k * self.mantissa, self.exponent) for k in range(self.first, self.last + 1)]

    @property
    def low(self) -> float:
        return _scaled(self.first * self.mantissa, self.exponent)

    @property
    def high(self) -> float:
        return _scaled(self.last * self.mantissa, self.exponent)

    def fraction(self, value: float) -> float:
        """Where `value` falls between the first tick (0) and the last (1), clamped."""
        value = min(max(value, self.low), self.high)
        return (value - self.low) / (self.high - self.low)


LOG_MINOR_DECADES_MAX = 2  # an axis of at most this many decades gets ticks at 2 and 5 too


@dataclass(frozen=True, slots=True)
class LogTicks:
    """Ticks of a logarithmic axis from 10^first to 10^last: at each power of
    ten, and with `minor` also at 2 and 5 times it."""

    first: int
    last: int
    minor: bool

    def _ticks(self) -> list[tuple[int, int]]:
        mantissas = STEP_MANTISSAS if self.minor else (1,)
        return [(m, e) for e in range(self.first, self.last + 1) for m in mantissas
                if e < self.last or m == 1]

    @property
    def values(self) -> list[float]:
        return [_scaled(m, e) for m, e in self._ticks()]

    @property
    def labels(self) -> list[str]:
        return [tick_label(m, e) for m, e in self._ticks()]

    @property
    def low(self) -> float:
        return _power(self.first)

    @property
    def high(self) -> float:
        return _power(self.last)

    def fraction(self, value: float) -> float:
        """Where `value` falls between 10^first (0) and 10^last (1) on the log scale, clamped."""
        value = min(max(value, self.low), self.high)
        return (math.log10(value) - self.first) / (self.last - self.first)


def log_ticks(low: float, high: float) -> LogTicks:
    """Powers of ten from at or below `low` to at or above `high` (at least one decade)."""
    if not (math.isfinite(low) and math.isfinite(high)) or not 0 < low <= high or high > VALUE_MAX:
        raise ValueError(f"a logarithmic axis needs a finite range of positive values, not {low!r}..{high!r}")
    first = math.floor(math.log10(low))
    while _power(first) > low:  # log10 may be off by one at exact powers of ten
        first -= 1
    while _power(first + 1) <= low:
        first += 1
    last = max(first + 1, math.ceil(math.log10(high)))
    while _power(last) < high:
        last += 1
    while last - 1 > first and _power(last - 1) >= high:
        last -= 1
    return LogTicks(first, last, last - first <= LOG_MINOR_DECADES_MAX)


def nice_ticks(low: float, high: float, intervals: int = INTERVALS_WANTED) -> Ticks:
    """Ticks on a 1-2-5 step whose first is at or below `low` and whose last is
    at or above `high`, in 2 to intervals+3 intervals: of the steps near
    span/intervals, the one that wastes the least room (0..12 gets 0, 2, ..., 12,
    not 0, 5, 10, 15), on a tie the one nearest `intervals`. A range of zero
    width (or narrower than SPAN_MIN, or than RELATIVE_SPAN_MIN of its values'
    size: floats near 1.0 are 2e-16 apart) is widened around its middle."""
    if not (math.isfinite(low) and math.isfinite(high)) or low > high or max(-low, high) > VALUE_MAX:
        raise ValueError(f"ticks need a finite range with low <= high, not {low!r}..{high!r}")
    if high - low < max(SPAN_MIN, RELATIVE_SPAN_MIN * max(abs(low), abs(high))):  # zero width, or too narrow
        middle = (low + high) / 2
        half = abs(middle) / 2 if abs(middle) / 2 >= SPAN_MIN else 0.5
        low, high = middle - half, middle + half
    mantissa, exponent = nice_step(high - low, intervals)
    index = STEP_MANTISSAS.index(mantissa) + len(STEP_MANTISSAS) * exponent
    candidates = [_covering(low, high, *_step_at(i)) for i in range(index - 2, index + 2)]
    fitting = [t for t in candidates if 2 <= t.last - t.first <= intervals + 3] or [candidates[2]]
    return min(fitting, key=lambda t: (t.high - t.low, abs(t.last - t.first - intervals)))


def _step_at(index: int) -> tuple[int, int]:
    """The index-th 1-2-5 step: ..., (5, -1), (1, 0), (2, 0), (5, 0), (1, 1), ..."""
    exponent, position = divmod(index, len(STEP_MANTISSAS))
    return STEP_MANTISSAS[position], exponent


def _covering(low: float, high: float, mantissa: int, exponent: int) -> Ticks:
    """The fewest ticks of this step from at or below `low` to at or above `high`."""
    step = _scaled(mantissa, exponent)
    first = math.floor(low / step)
    while _scaled((first + 1) * mantissa, exponent) <= low:  # division rounding, either way
        first += 1
    while _scaled(first * mantissa, exponent) > low:
        first -= 1
    last = math.ceil(high / step)
    while _scaled((last - 1) * mantissa, exponent) >= high:
        last -= 1
    while _scaled(last * mantissa, exponent) < high:
        last += 1
    return Ticks(first, last, mantissa, exponent)


def tick_label(count: int, exponent: int) -> str:
    """count x 10^exponent as text: plain decimals with thousands separators
    for ordinary steps ("12,500", "0.25"), else short scientific ("2e6", "1.5e-9")."""
    if count == 0:
        return "0"
    if FIXED_EXPONENT_MIN <= exponent <= FIXED_EXPONENT_MAX:
        if exponent >= 0:
            return f"{count * 10 ** exponent:,}"
        whole, fraction = divmod(abs(count), 10 ** -exponent)
        return f"{'-' if count < 0 else ''}{whole:,}.{fraction:0{-exponent}d}"
    sign, digits = ("-" if count < 0 else ""), str(abs(count)).rstrip("0")
    exponent += len(str(abs(count))) - 1
    mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{exponent}"
