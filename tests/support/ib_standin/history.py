"""``reqHistoricalData``: bars of any contract, range and bar size from a deterministic price path
(the same request always gives the same bars, and overlapping requests agree), inside the
contract's trading sessions, with IB's pacing rules and its error 162 answers."""

from __future__ import annotations

import re
from collections import deque
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
from ib_async.contract import Contract
from ib_async.objects import BarData

from .contracts import EASTERN, Listing, session_windows
from .matching import round_to_tick
from .timefmt import parse_tws_time, tws_stamp

if TYPE_CHECKING:
    from .gateway import Gateway
    from .session import Session

BAR_SIZES = {
    "1 secs": 1, "5 secs": 5, "10 secs": 10, "15 secs": 15, "30 secs": 30,
    "1 min": 60, "2 mins": 120, "3 mins": 180, "5 mins": 300, "10 mins": 600,
    "15 mins": 900, "20 mins": 1200, "30 mins": 1800, "1 hour": 3600, "2 hours": 7200,
    "3 hours": 10800, "4 hours": 14400, "8 hours": 28800, "1 day": 86400}
DURATION_UNITS = {"S": 1, "D": 86400, "W": 7 * 86400, "M": 30 * 86400, "Y": 365 * 86400}
WHAT_TO_SHOW = ("TRADES", "MIDPOINT", "BID", "ASK", "BID_ASK", "ADJUSTED_LAST")
MAX_BARS = 100_000
MAX_MINUTES = 6_000_000  # about eleven years of minutes in one request
IDENTICAL_WINDOW_S = 15.0
BURST_WINDOW_S, BURST_LIMIT = 2.0, 6
TEN_MINUTES_S, TEN_MINUTE_LIMIT = 600.0, 60
PACING = "Historical Market Data Service error message:Historical data request pacing violation"
_DURATION = re.compile(r"^\s*(\d+)\s+([SDWMY])\s*$")
_SCALES = (60.0, 420.0, 3000.0, 24000.0, 180000.0, 1500000.0)
_SIGMA_PER_SQRT_S = 0.00012


class HistoryService:
    """Historical bars and the pacing state of one gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        self.requests: list[tuple[float, str, str, str, str, str]] = []
        self._accepted: deque[tuple[float, tuple[object, ...], tuple[object, ...], int]] = \
            deque()

    def request(self, sess: Session, req_id: int, contract: Contract, end: str, duration: str,
                bar_size: str, what: str, use_rth: bool, format_date: int,
                keep_up_to_date: bool) -> None:
        """Answer one ``reqHistoricalData`` with bars or an error."""
        now_mono = self.gw.mono()
        listing = self.gw.catalogue.resolve(contract)
        self.requests.append((now_mono, listing.local_symbol if listing else contract.localSymbol
                              or contract.symbol, end, duration, bar_size, what))
        if listing is None:
            sess.error(req_id, 200, "No security definition has been found for the request")
            return
        problem = _check(end, duration, bar_size, what, keep_up_to_date)
        if problem:
            sess.error(req_id, 321, f"Error validating request:-'bP' : cause - {problem}")
            return
        identity = (listing.con_id, end, duration, bar_size, what.upper(), bool(use_rth))
        burst = (listing.con_id, listing.exchange, what.upper())
        if self._violates(now_mono, identity, burst):
            sess.error(req_id, 162, PACING)
            return
        weight = 2 if what.upper() == "BID_ASK" else 1
        self._accepted.append((now_mono, identity, burst, weight))
        if what.upper() == "TRADES" and listing.sec_type == "CASH":
            sess.error(req_id, 162, "Historical Market Data Service error message:No "
                                    f"historical market data for {listing.local_symbol} "
                                    "TRADES (no data of this type: use MIDPOINT)")
            return
        now = self.gw.now()
        end_utc = min(now, parse_tws_time(end)) if end else now
        start_utc = end_utc - timedelta(seconds=_duration_seconds(duration))
        bars = self._bars(listing, start_utc, end_utc, BAR_SIZES[bar_size], what.upper(),
                          bool(use_rth), int(format_date))
        if bars is None:
            sess.error(req_id, 162, "Historical Market Data Service error message:Time length "
                                    "exceed max.")
            return
        if not bars:
            sess.error(req_id, 162, "Historical Market Data Service error message:HMDS query "
                                    "returned no data")
            return
        for bar in bars:
            sess.send("historicalData", req_id, bar)
        sess.send("historicalDataEnd", req_id, tws_stamp(start_utc), tws_stamp(end_utc))

    def head_timestamp(self, sess: Session, req_id: int, contract: Contract,
                       format_date: int) -> None:
        """``reqHeadTimeStamp``: the data starts twenty years back."""
        if self.gw.catalogue.resolve(contract) is None:
            sess.error(req_id, 200, "No security definition has been found for the request")
            return
        head = datetime(self.gw.now().year - 20, 1, 2, 14, 30, tzinfo=UTC)
        text = str(int(head.timestamp())) if format_date == 2 else f"{head:%Y%m%d-%H:%M:%S}"
        sess.send("headTimestamp", req_id, text)

    def _violates(self, now: float, identity: tuple[object, ...],
                  burst: tuple[object, ...]) -> bool:
        while self._accepted and now - self._accepted[0][0] > TEN_MINUTES_S:
            self._accepted.popleft()
        if sum(w for _, _, _, w in self._accepted) >= TEN_MINUTE_LIMIT:
            return True
        if any(i == identity and now - t < IDENTICAL_WINDOW_S
               for t, i, _, _ in self._accepted):
            return True
        recent = sum(w for t, _, b, w in self._accepted
                     if b == burst and now - t < BURST_WINDOW_S)
        return recent >= BURST_LIMIT

    def _bars(self, listing: Listing, start: datetime, end: datetime, step: int, what: str,
              use_rth: bool, format_date: int) -> list[BarData] | None:
        spans = _bar_spans(listing.sec_type, start, end, step, use_rth)
        if spans is None or len(spans) > MAX_BARS:
            return None
        if not spans:
            return []
        ohlc = _ohlc(listing, spans, step)
        if ohlc is None:
            return None
        half = _half_spread(listing)
        shift = {"BID": -half, "BID_ASK": -half, "ASK": half}.get(what, 0.0)
        tick = listing.min_tick
        out = []
        for (s, _, label), row in zip(spans, ohlc, strict=True):
            o, h, lo, c = (float(v) + shift for v in row)
            if what == "BID_ASK":
                h += 2 * half
                c += 2 * half
            o, h, lo, c = (round_to_tick(v, tick) for v in (o, h, lo, c))
            volume, average, count = -1.0, -1.0, -1
            if what in ("TRADES", "ADJUSTED_LAST"):
                volume = float(_volume(listing, s, step))
                average = round((h + lo + c) / 3.0, 6)
                count = max(1, int(volume // 40))
            date_text = label if label else (str(int(s)) if format_date == 2 else
                                             tws_stamp(datetime.fromtimestamp(s, UTC)))
            bar = BarData(open=o, high=h, low=lo, close=c, volume=volume, average=average,
                          barCount=count)
            bar.date = date_text  # type: ignore[assignment]  # TWS sends text; the wrapper parses
            out.append(bar)
        return out


def _ohlc(listing: Listing, spans: list[tuple[float, float, str]],
          step: int) -> np.ndarray | None:
    """Open, high, low, close of each span from the price path: sampled at the bar's ends
    for second bars, on the whole-minute grid otherwise (so every bar size agrees)."""
    starts = np.array([s for s, _, _ in spans], dtype=np.float64)
    ends = np.array([e for _, e, _ in spans], dtype=np.float64)
    if step < 60:
        both = price_path(listing, np.stack([starts, ends], axis=1))
        return np.stack([both[:, 0], both.max(axis=1), both.min(axis=1), both[:, 1]], axis=1)
    g0 = float(np.floor(starts.min() / 60.0) * 60.0)
    first = ((starts - g0) // 60.0).astype(np.int64)
    last = np.maximum(first, ((ends - g0) // 60.0).astype(np.int64))
    if int(last.max()) > MAX_MINUTES:
        return None
    path = price_path(listing, g0 + 60.0 * np.arange(int(last.max()) + 1, dtype=np.float64))
    out = np.empty((len(spans), 4))
    for i, (lo_i, hi_i) in enumerate(zip(first, last, strict=True)):
        window = path[lo_i:hi_i + 1]
        out[i] = (window[0], window.max(), window.min(), window[-1])
    return out


def price_path(listing: Listing, times: np.ndarray) -> np.ndarray:
    """The stand-in's market at epoch seconds ``times``: a sum of smooth noise at several time
    scales (a random-walk look, computable at any instant without history)."""
    if listing.sec_type == "OPT":
        under = Listing(sec_type="STK", con_id=listing.under_con_id, symbol="", local_symbol="",
                        exchange="", currency="", min_tick=0.01, trading_class="",
                        market_name="", long_name="", valid_exchanges="", base_price=190.0)
        spot = price_path(under, times)
        intrinsic = np.maximum(spot - listing.strike if listing.right == "C"
                               else listing.strike - spot, 0.0)
        option: np.ndarray = np.maximum(intrinsic + 2.5, 0.05)
        return option
    log_move = np.zeros_like(times)
    for k, scale in enumerate(_SCALES):
        log_move += _SIGMA_PER_SQRT_S * np.sqrt(scale) * _smooth_noise(
            times / scale, listing.con_id * 7 + k)
    path: np.ndarray = listing.base_price * np.exp(log_move)
    return path


def _smooth_noise(x: np.ndarray, seed: int) -> np.ndarray:
    cell = np.floor(x)
    frac = x - cell
    a = _lattice(cell.astype(np.int64), seed)
    b = _lattice(cell.astype(np.int64) + 1, seed)
    w = (1.0 - np.cos(np.pi * frac)) / 2.0
    out: np.ndarray = a * (1.0 - w) + b * w
    return out


def _lattice(cells: np.ndarray, seed: int) -> np.ndarray:
    z = cells.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(seed * 0xBF58476D
                                                                           % (1 << 63))
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    unit: np.ndarray = (z >> np.uint64(11)).astype(np.float64) / float(1 << 53) * 2.0 - 1.0
    return unit


def _volume(listing: Listing, start: float, step: int) -> int:
    noise = _lattice(np.array([int(start)], dtype=np.int64), listing.con_id + 99)[0]
    per_minute = 800.0 if listing.sec_type != "OPT" else 20.0
    return max(1, int(per_minute * max(step, 60) / 60.0 * (1.5 + noise)))


def _half_spread(listing: Listing) -> float:
    return listing.min_tick * (1 if listing.sec_type in ("FUT", "STK") else 2)


def _bar_spans(sec_type: str, start: datetime, end: datetime, step: int,
               use_rth: bool) -> list[tuple[float, float, str]] | None:
    """(bar start, bar end, date label for daily bars) of every bar in [start, end)."""
    first = start.astimezone(EASTERN).date() - timedelta(days=1)
    last = end.astimezone(EASTERN).date() + timedelta(days=1)
    if (last - first).days > 366 * 30:
        return None
    t0, t1 = start.timestamp(), end.timestamp()
    spans: list[tuple[float, float, str]] = []
    day: date = first
    while day <= last:
        for open_, close in session_windows(sec_type, day, use_rth):
            o, c = open_.timestamp(), close.timestamp()
            if c <= t0 or o >= t1:
                continue
            if step >= 86400:
                spans.append((o, min(c, t1), f"{day:%Y%m%d}"))
                continue
            grid = np.arange(np.ceil(o / step) * step, c, step)
            starts = [o] if o % step else []
            starts += [float(s) for s in grid]
            for s in starts:
                stop = min(c, (s // step + 1) * step, t1)
                if t0 <= s < t1:
                    spans.append((s, stop, ""))
                    if len(spans) > MAX_BARS:
                        return None
        day += timedelta(days=1)
    return spans


def _duration_seconds(duration: str) -> int:
    match = _DURATION.match(duration)
    assert match is not None
    return int(match.group(1)) * DURATION_UNITS[match.group(2)]


def _check(end: str, duration: str, bar_size: str, what: str, keep_up_to_date: bool) -> str:
    if bar_size not in BAR_SIZES:
        return f"Historical data bar size setting {bar_size!r} is invalid"
    match = _DURATION.match(duration)
    if match is None or int(match.group(1)) <= 0:
        return f"Historical data duration {duration!r} is invalid"
    if what.upper() not in WHAT_TO_SHOW:
        return f"whatToShow {what!r} is not supported"
    if keep_up_to_date and end:
        return "keepUpToDate requires an empty end date-time"
    if end:
        try:
            parse_tws_time(end)
        except ValueError:
            return f"Historical data query end date/time string [{end}] is invalid"
    return ""
