"""Time buckets (hour, day, week, month) in an IANA time zone, as integer keys SQL can compute.

An event at epoch second t is bucketed by its local time in the zone. Within a stretch of time
where the zone's UTC offset is constant the local time is t + offset, so the database computes a
bucket key with integer arithmetic once it knows the offset in force at t. The offsets in force over
the queried range are found here (a handful of DST transitions a year) and handed to the SQL as
`Span`s; keys map back to the bucket's first instant here too. So a local day is 23 or 25 hours
long across a DST change, and the two 01:00 hours of a November night in New York stay apart.

Keys:  hour  -> epoch second at which the local hour starts
       day   -> local day number (days since 1970-01-01 of the local date)
       week  -> (day + 3) // 7: weeks start on Monday (1970-01-01 was a Thursday)
       month -> year * 12 + month - 1 of the local date (SQL maps day numbers to it by ranges)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

INTERVALS = ("hour", "day", "week", "month")
_EPOCH_DAY = date(1970, 1, 1)
_PROBE = 3600  # transitions are found by probing each hour, then bisecting to the second


@dataclass(frozen=True)
class Span:
    start: int   # epoch second from which...
    offset: int  # ...the zone's UTC offset is this many seconds (until the next span)


@dataclass(frozen=True)
class Plan:
    """Everything the query and the answer need: the range, the offsets in it, the buckets."""

    interval: str
    zone: ZoneInfo
    start: int            # first epoch second counted
    end: int              # first epoch second not counted
    spans: list[Span]
    keys: list[int]       # bucket keys in time order, one per answered date
    month_starts: list[tuple[int, int]]  # (local day number, month key), for interval == "month"

    def aligned(self, step: int) -> bool:
        """Is every bucket a whole number of `step`-second UTC slices (store/rollups.py's 15 minutes)?
        True when the range ends and every offset and offset change in it fall on multiples of step,
        which holds for every zone in use today (+05:30, +05:45 and DST changes included)."""
        return (self.start % step == 0 and self.end % step == 0
                and all(s.offset % step == 0 and s.start % step == 0 for s in self.spans))

    def index(self) -> dict[int, int]:
        return {key: i for i, key in enumerate(self.keys)}

    def dates(self) -> list[datetime]:
        """The first instant of each bucket, in the zone."""
        return [bucket_start(self.interval, key, self.zone) for key in self.keys]


def offset_at(zone: ZoneInfo, t: int) -> int:
    offset = datetime.fromtimestamp(t, zone).utcoffset()
    return int(offset.total_seconds()) if offset else 0


def offset_spans(zone: ZoneInfo, start: int, end: int) -> list[Span]:
    """The zone's UTC offsets over [start, end), each from the second it takes effect."""
    spans = [Span(start, offset_at(zone, start))]
    t = start
    while t < end:
        nxt = min(t + _PROBE, end)
        if offset_at(zone, nxt) != spans[-1].offset and nxt < end:
            lo, hi = t, nxt  # offset(lo) is the current one, offset(hi) is not
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if offset_at(zone, mid) == spans[-1].offset else (lo, mid)
            spans.append(Span(hi, offset_at(zone, hi)))
        t = nxt
    return spans


def day_number(d: date) -> int:
    return (d - _EPOCH_DAY).days


def key_of(interval: str, t: int, offset: int) -> int:
    """The bucket key of epoch second t when the zone's offset is `offset` (what the SQL computes)."""
    local = t + offset
    if interval == "hour":
        return local // 3600 * 3600 - offset
    day = local // 86400
    if interval == "day":
        return day
    if interval == "week":
        return (day + 3) // 7
    d = _EPOCH_DAY + timedelta(days=day)
    return d.year * 12 + d.month - 1


def bucket_start(interval: str, key: int, zone: ZoneInfo) -> datetime:
    if interval == "hour":
        return datetime.fromtimestamp(key, zone)
    if interval == "day":
        first = _EPOCH_DAY + timedelta(days=key)
    elif interval == "week":
        first = _EPOCH_DAY + timedelta(days=key * 7 - 3)
    else:
        first = date(key // 12, key % 12 + 1, 1)
    return local_midnight(first, zone)


def local_midnight(d: date, zone: ZoneInfo) -> datetime:
    """The first instant of a local date (01:00 where midnight is skipped by a DST change)."""
    naive = datetime.combine(d, time(0), zone)  # fold=0: a skipped midnight maps to the transition instant
    return datetime.fromtimestamp(naive.timestamp(), zone)


def plan(interval: str, zone: ZoneInfo, start: int, end: int) -> Plan:
    """Buckets from the one holding `start` to the one holding `end - 1`."""
    spans = offset_spans(zone, start, end)
    keys: list[int] = []
    t = start
    while t < end:
        key = key_of(interval, t, offset_at(zone, t))
        if not keys or key != keys[-1]:
            keys.append(key)
        nxt = bucket_start(interval, _next_key(interval, key), zone).timestamp()
        t = max(int(nxt), t + 1)
    months: list[tuple[int, int]] = []
    if interval == "month":
        months = [(day_number(bucket_start("month", k, zone).date()), k) for k in keys]
    return Plan(interval, zone, start, end, spans, keys, months)


def _next_key(interval: str, key: int) -> int:
    return key + 3600 if interval == "hour" else key + 1


