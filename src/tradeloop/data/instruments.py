"""Contract specifications: the instruments file, the bundled specs and symbol resolution.

An instruments file is TOML with one table per instrument, named by its canonical symbol::

    [EURUSD]
    asset_class = "fx"        # required: equity, fx, crypto, future, cfd, index, commodity
    quote = "USD"             # required: the currency prices and PnL are in
    base = "EUR"              # what one unit is (default: the quote currency)
    tick_size = "0.00001"     # required: smallest price increment, > 0
    lot_step = "1"            # smallest quantity increment, > 0 (default 1)
    min_quantity = "1000"     # smallest order: >= 0, whole lot steps (default lot_step)
    multiplier = "1"          # PnL per unit of price per unit of quantity, > 0 (default 1)
    margin_rate = "0.0333"    # fraction of notional held as margin, in (0, 1] (default 1)
    trading_hours = "fx"      # see below
    description = "Euro / US dollar spot"
    exchange = "..."          # listing exchange, free text
    [EURUSD.symbols]          # each venue's spelling; venue names are lower-cased
    ibkr = "EUR.USD"

Numbers are exact ``Decimal``: strings and integers as written; a bare float only when it reads
back the same through a binary double (``0.25`` yes, ``0.1000000000000000055`` no, since other
TOML readers would see another number).

``trading_hours``: ``"fx"`` (Sunday 17:00 to Friday 17:00 New York), ``"24/7"``, an exchange
calendar name (``"XNYS"``), or sessions ``"<days> <HH:MM>-<HH:MM> <IANA zone>"`` joined by
``";"``, days ``Mon``..``Sun`` single or as ranges, comma separated: ``"Mon-Fri 09:30-16:00
America/New_York"``. A close at or before the open runs overnight, and the days then span the
first open to the last close as exchanges write it: ``"Sun-Fri 17:00-16:00 America/Chicago"``.

:func:`instrument_book` merges a user's ``<home>/instruments.toml`` over the bundled specs,
one whole instrument at a time.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tradeloop.core.errors import ConfigError
from tradeloop.model.enums import AssetClass
from tradeloop.model.instrument import Instrument

logger = logging.getLogger(__name__)

INSTRUMENTS_FILE_NAME = "instruments.toml"
SIM_VENUE = "SIM"
_BUNDLED_PACKAGE = "tradeloop.data"
_BUNDLED_PATH = ("specs", INSTRUMENTS_FILE_NAME)
_BUNDLED_SOURCE = "bundled specs/instruments.toml"

_DECIMAL_FIELDS = ("tick_size", "lot_step", "min_quantity", "multiplier", "margin_rate")
_TEXT_FIELDS = ("asset_class", "base", "quote", "trading_hours", "description", "exchange")
_FIELDS = (*_TEXT_FIELDS, *_DECIMAL_FIELDS, "symbols")
_REQUIRED = ("asset_class", "quote", "tick_size")
_CURRENCY = re.compile(r"[A-Za-z0-9]{2,10}")
_VENUE = re.compile(r"[a-z][a-z0-9_]*")
_SEPARATORS = re.compile(r"[^0-9A-Za-z]+")
_SUFFIX = re.compile(r"(?P<stem>.+?)[.\-_+](?P<suffix>[0-9A-Za-z]{1,5})")
_LOWER_TAIL = re.compile(r"(?P<stem>.*[A-Z0-9])[a-z]{1,3}")
_HOURS_KEYWORDS = ("fx", "24/7")
_SESSION = re.compile(
    r"(?P<days>[A-Za-z,\- ]+?)\s+(?P<open>\d{1,2}:\d{2})\s*-\s*(?P<close>\d{1,2}:\d{2})"
    r"\s+(?P<zone>\S+)"
)
_CALENDAR = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _./-]*")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"), (Decimal, "a float"), (int, "an integer"), (str, "a string"),
    (dict, "a table"), (list, "an array"),
)


class _TomlFloat(Decimal):  # a float literal of the file, exactly as written
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """One entry of an instruments file: the model instrument plus what venues need.

    Attributes
    ----------
    instrument : Instrument
        The instrument on the simulated venue (``venue="SIM"``), under its canonical symbol.
    trading_hours : str or None
        ``"fx"``, ``"24/7"``, an exchange calendar name or sessions (see the module doc).
    symbols : dict of str to str
        Venue name (lower case, ``"ibkr"``) to that venue's spelling (``"EUR.USD"``); read-only.
    description : str
    exchange : str or None
        The listing exchange, free text (``"CME"``).
    source : str
        The file the spec was read from, for messages.
    """

    instrument: Instrument
    trading_hours: str | None = None
    symbols: dict[str, str] = field(default_factory=dict, hash=False)
    description: str = ""
    exchange: str | None = None
    source: str = field(default="", compare=False)

    @property
    def symbol(self) -> str:
        """The canonical symbol."""
        return self.instrument.symbol

    def for_venue(self, venue: str) -> Instrument:
        """Return the instrument with ``venue`` set; the symbol stays canonical."""
        return dataclasses.replace(self.instrument, venue=venue)


class InstrumentBook:
    """Instrument specs keyed by canonical symbol, with spelling resolution. Immutable.

    Parameters
    ----------
    specs : iterable of InstrumentSpec
        Canonical symbols must differ also after normalisation (``EUR/USD`` and ``EURUSD``
        clash), and a venue spelling may belong to one instrument only.
    source : str
        Where the specs came from, for messages.

    Raises
    ------
    ConfigError
        For a clash of symbols or venue spellings, naming both instruments and their files.
    """

    def __init__(self, specs: Iterable[InstrumentSpec] = (), source: str = "") -> None:
        self.source = source
        self._specs: dict[str, InstrumentSpec] = {}
        self._by_venue: dict[str, dict[str, str]] = {}
        self._normalised: dict[str, list[tuple[str, str | None]]] = {}
        for spec in specs:
            symbol, key = spec.symbol, _normalise(spec.symbol)
            clash = next((s for s, v in self._normalised.get(key, []) if v is None), None)
            if clash is not None:
                raise ConfigError(
                    f"{spec.source or source}: [{symbol}] clashes with [{clash}] "
                    f"({self._specs[clash].source or source}): both read as {key!r}"
                )
            self._specs[symbol] = spec
            self._normalised.setdefault(key, []).append((symbol, None))
            for venue, spelling in spec.symbols.items():
                taken = self._by_venue.setdefault(venue, {})
                if spelling in taken:
                    other = self._specs[taken[spelling]]
                    raise ConfigError(
                        f"{spec.source or source}: [{symbol}.symbols] {venue}: {spelling!r} is "
                        f"already the {venue} symbol of {other.symbol} ({other.source or source})"
                    )
                taken[spelling] = symbol
                self._normalised.setdefault(_normalise(spelling), []).append((symbol, venue))

    def __len__(self) -> int:
        return len(self._specs)

    def __iter__(self) -> Iterator[InstrumentSpec]:
        return iter([self._specs[s] for s in sorted(self._specs)])

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._specs

    def __repr__(self) -> str:
        return f"InstrumentBook({len(self)} instruments from {self.source or 'code'})"

    def symbols(self) -> list[str]:
        """Return the canonical symbols, sorted."""
        return sorted(self._specs)

    def get(self, symbol: str, venue: str | None = None) -> InstrumentSpec:
        """Return the spec named by ``symbol``, any spelling :meth:`resolve` accepts.

        Raises
        ------
        ConfigError
            For an unknown or ambiguous symbol.
        """
        return self._specs[self.resolve(symbol, venue)]

    def instrument(self, symbol: str, venue: str = SIM_VENUE) -> Instrument:
        """Return the model instrument for ``symbol`` (any spelling) on ``venue``.

        The instrument keeps the canonical symbol; ``venue`` goes into ``Instrument.venue``.

        Examples
        --------
        >>> bundled_instruments().instrument("EUR/USD").tick_size
        Decimal('0.00001')
        """
        return self.get(symbol).for_venue(venue)

    def resolve(self, spelling: str, venue: str | None = None) -> str:
        """Return the canonical symbol that ``spelling`` names.

        Tried in order: the canonical symbol and the venue spellings of the file as written
        (the venue's own spelling first when ``venue`` is given); then ignoring case and
        separators (``EUR/USD``, ``EUR.USD``, ``EUR_USD``, ``eurusd``); then without a broker
        suffix: a lower-case tail (``EURUSD.m``, ``EURUSDm``, ``EURUSD-ecn``) or one or two
        upper-case letters after a separator (``AAPL.US``).

        Parameters
        ----------
        spelling : str
        venue : str, optional
            Consider only this venue's spellings (canonical symbols always count).

        Returns
        -------
        str

        Raises
        ------
        ConfigError
            When nothing matches (with a did-you-mean hint) or several instruments do.
        """
        text = spelling.strip()
        if not text:
            raise ConfigError("empty instrument symbol")
        venue_key = venue.strip().lower() if venue else None
        if venue_key is None and text in self._specs:
            return text
        exact: set[tuple[str, str | None]] = {
            (spellings[text], v)
            for v, spellings in self._by_venue.items()
            if text in spellings and venue_key in (None, v)
        }
        if exact:
            return self._single(spelling, exact)
        if text in self._specs:
            return text
        for key in _candidate_keys(text):
            entries = self._normalised.get(key, [])
            found = {(s, v) for s, v in entries if v is None or venue_key in (None, v)}
            if found:
                return self._single(spelling, found)
        raise ConfigError(self._unknown_message(spelling, venue_key))

    def venue_symbol(self, symbol: str, venue: str) -> str:
        """Return how ``venue`` spells the instrument ``symbol`` (any spelling).

        ``"SIM"`` gives the canonical symbol. There is no fallback: a venue without a spelling
        in the file is an error, because sending a guess to a broker is worse than stopping.

        Raises
        ------
        ConfigError
            For an unknown symbol or a venue without a spelling.

        Examples
        --------
        >>> bundled_instruments().venue_symbol("EURUSD", "ibkr")
        'EUR.USD'
        """
        venue_key = venue.strip().lower()
        spec = self.get(symbol)
        if venue_key == SIM_VENUE.lower():
            return spec.symbol
        spelling = spec.symbols.get(venue_key)
        if spelling is None:
            raise ConfigError(
                f"{spec.symbol} has no {venue_key} symbol in {spec.source or self.source}; add "
                f'{venue_key} = "..." under [{spec.symbol}.symbols] in your {INSTRUMENTS_FILE_NAME}'
            )
        return spelling

    def merged(self, other: InstrumentBook) -> InstrumentBook:
        """Return a new book where ``other``'s specs replace this book's, symbol by symbol.

        Raises
        ------
        ConfigError
            When a venue spelling of ``other`` belongs to another instrument of this book.
        """
        specs = dict(self._specs)
        overridden = sorted(set(specs) & set(other._specs))
        if overridden:
            logger.debug("%s overrides %s", other.source, ", ".join(overridden))
        specs.update(other._specs)
        sources = " + ".join(s for s in (self.source, other.source) if s)
        return InstrumentBook(specs.values(), sources)

    def _single(self, spelling: str, matches: set[tuple[str, str | None]]) -> str:
        if len({symbol for symbol, _ in matches}) == 1:
            return next(iter(matches))[0]
        described = ", ".join(
            f"{s} ({v})" if v else s for s, v in sorted(matches, key=lambda m: (m[0], m[1] or ""))
        )
        raise ConfigError(
            f"ambiguous instrument {spelling!r}: it could be {described}; "
            "pass the venue or use the canonical symbol"
        )

    def _unknown_message(self, spelling: str, venue: str | None) -> str:
        scope = f" for venue {venue}" if venue else ""
        scope += f" in {self.source}" if self.source else ""
        close = difflib.get_close_matches(_normalise(spelling), list(self._normalised), n=3)
        hints = list(dict.fromkeys(s for key in close for s, _ in self._normalised[key]))[:3]
        if hints:
            return f"unknown instrument {spelling!r}{scope}; did you mean {' or '.join(hints)}?"
        known = ", ".join(self.symbols()[:12]) + (", ..." if len(self) > 12 else "")
        return f"unknown instrument {spelling!r}{scope}; known: {known}"


def parse_instruments(text: str, source: str = "<string>") -> InstrumentBook:
    """Parse the TOML text of an instruments file.

    Parameters
    ----------
    text : str
        The file's content.
    source : str
        Named in every error message (normally the file path).

    Returns
    -------
    InstrumentBook

    Raises
    ------
    ConfigError
        One line naming the source, the instrument and the field, or for TOML syntax errors
        the line and column.
    """
    try:
        document = tomllib.loads(text, parse_float=_TomlFloat)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    specs = []
    for symbol, table in document.items():
        if symbol != symbol.strip() or any(c.isspace() for c in symbol) or not _normalise(symbol):
            raise ConfigError(
                f"{source}: [{symbol!r}] is not a valid symbol: use letters and digits, no spaces"
            )
        if not isinstance(table, dict):
            raise ConfigError(
                f"{source}: {symbol!r} must be a table [{symbol}] describing an instrument, "
                f"not {_kind(table)}"
            )
        specs.append(_parse_spec(symbol, table, source))
    book = InstrumentBook(specs, source)
    logger.debug("read %d instruments from %s", len(book), source)
    return book


def load_instruments(path: str | Path) -> InstrumentBook:
    """Load an instruments file (TOML, schema in the module doc).

    Raises
    ------
    ConfigError
        When the file cannot be read or an entry is invalid.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such instruments file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read instruments file: {exc.strerror}") from None
    return parse_instruments(text, str(path))


@lru_cache(maxsize=1)
def bundled_instruments() -> InstrumentBook:
    """Return the contract specs shipped with tradeloop (cached).

    FX majors, spot gold (XAUUSD), US shares (AAPL, MSFT, GOOG, AMZN, SPY), CME micro futures
    (MES, MNQ, M2K, MYM, MGC, M6E) and BTCUSDT.
    """
    entry = resources.files(_BUNDLED_PACKAGE).joinpath(*_BUNDLED_PATH)
    return parse_instruments(entry.read_text(encoding="utf-8"), _BUNDLED_SOURCE)


def instrument_book(home: Path | None) -> InstrumentBook:
    """Return the bundled specs merged with ``home/instruments.toml`` when that file exists.

    Parameters
    ----------
    home : Path or None
        The tradeloop home directory, resolved by the caller; None for the bundled specs only.

    Returns
    -------
    InstrumentBook

    Raises
    ------
    ConfigError
        When the user file is invalid or clashes with a bundled venue spelling.
    """
    book = bundled_instruments()
    user_file = Path(home) / INSTRUMENTS_FILE_NAME if home is not None else None
    if user_file is None or not user_file.exists():
        return book
    user = load_instruments(user_file)
    logger.info("instruments: %d from %s over the bundled specs", len(user), user_file)
    return book.merged(user)


def _parse_spec(symbol: str, table: dict[str, Any], source: str) -> InstrumentSpec:
    where = f"{source}: [{symbol}]"
    for key in table:
        if key not in _FIELDS:
            close = difflib.get_close_matches(key, _FIELDS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"fields: {', '.join(_FIELDS)}"
            raise ConfigError(f"{where} unknown field {key!r}; {hint}")
    for key in _REQUIRED:
        if key not in table:
            raise ConfigError(f"{where} {key}: required field missing")
    text = {key: _text(table[key], where, key) for key in _TEXT_FIELDS if key in table}
    numbers = {key: _decimal(table[key], where, key) for key in _DECIMAL_FIELDS if key in table}
    numbers.setdefault("lot_step", Decimal(1))
    numbers.setdefault("min_quantity", numbers["lot_step"])
    for key, default in (("multiplier", 1), ("margin_rate", 1)):
        numbers.setdefault(key, Decimal(default))
    for key in ("tick_size", "lot_step", "multiplier"):
        if numbers[key] <= 0:
            raise ConfigError(f"{where} {key}: must be positive, got {numbers[key]}")
    min_quantity, lot_step = numbers["min_quantity"], numbers["lot_step"]
    if min_quantity < 0:
        raise ConfigError(f"{where} min_quantity: must be >= 0, got {min_quantity}")
    if min_quantity % lot_step != 0:
        raise ConfigError(
            f"{where} min_quantity: {min_quantity} is not a whole number of lot_step {lot_step}"
        )
    if not 0 < numbers["margin_rate"] <= 1:
        raise ConfigError(f"{where} margin_rate: must be in (0, 1], got {numbers['margin_rate']}")
    quote = _currency(text["quote"], where, "quote")
    try:
        instrument = Instrument(
            symbol, SIM_VENUE, _asset_class(text["asset_class"], where),
            _currency(text["base"], where, "base") if "base" in text else quote, quote,
            numbers["tick_size"], lot_step, min_quantity, numbers["multiplier"],
            numbers["margin_rate"],
        )
    except ValueError as exc:
        raise ConfigError(f"{where} {exc}") from None
    hours = text.get("trading_hours")
    return InstrumentSpec(
        instrument=instrument,
        trading_hours=None if hours is None else _trading_hours(hours, where),
        symbols=_venue_symbols(table.get("symbols", {}), symbol, source),
        description=text.get("description", ""),
        exchange=text.get("exchange") or None,
        source=source,
    )


def _kind(value: object) -> str:
    for kind, name in _KINDS:
        if isinstance(value, kind):
            return name
    return f"a {type(value).__name__}"


def _text(value: object, where: str, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where} {key}: expected a string, got {_kind(value)} ({value!s})")
    return value.strip()


def _decimal(value: object, where: str, key: str) -> Decimal:
    if isinstance(value, _TomlFloat):
        number = Decimal(value)
        if number.is_finite() and Decimal(repr(float(number))) != number:
            raise ConfigError(
                f"{where} {key}: {value} is not exact as a binary float; "
                f'write it as a string, e.g. {key} = "{value}"'
            )
    elif isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ConfigError(f"{where} {key}: {value!r} is not a number") from None
    else:
        raise ConfigError(f"{where} {key}: expected a number or a string, got {_kind(value)}")
    if not number.is_finite():
        raise ConfigError(f"{where} {key}: must be a finite number, got {value}")
    return number


def _asset_class(text: str, where: str) -> AssetClass:
    try:
        return AssetClass(text.upper())
    except ValueError:
        names = [a.value.lower() for a in AssetClass]
        close = difflib.get_close_matches(text.lower(), names, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"one of {', '.join(names)}"
        raise ConfigError(f"{where} asset_class: unknown {text!r}; {hint}") from None


def _currency(text: str, where: str, key: str) -> str:
    if not _CURRENCY.fullmatch(text):
        raise ConfigError(f"{where} {key}: {text!r} is not a currency code (2-10 letters, digits)")
    return text.upper()


def _venue_symbols(table: object, symbol: str, source: str) -> dict[str, str]:
    where = f"{source}: [{symbol}.symbols]"
    if not isinstance(table, dict):
        raise ConfigError(
            f'{source}: [{symbol}] symbols: expected a table of venue = "spelling", '
            f"got {_kind(table)}"
        )
    spellings: dict[str, str] = {}
    for venue, spelling in table.items():
        key = venue.strip().lower()
        if not _VENUE.fullmatch(key):
            raise ConfigError(f"{where} {venue!r} is not a venue name (letters, digits, _)")
        if key in spellings:
            raise ConfigError(f"{where} {venue}: venue given twice (names ignore case)")
        if not isinstance(spelling, str) or not spelling.strip():
            raise ConfigError(f"{where} {venue}: want a non-empty string, not {_kind(spelling)}")
        spellings[key] = spelling.strip()
    return spellings


def _trading_hours(text: str, where: str) -> str:
    where = f"{where} trading_hours:"
    if not text:
        raise ConfigError(f"{where} empty; leave it out when unknown")
    if text.lower() in _HOURS_KEYWORDS:
        return text.lower()
    if ":" not in text:
        if not _CALENDAR.fullmatch(text):
            raise ConfigError(
                f'{where} {text!r} is neither "fx", "24/7", a calendar name nor sessions '
                'like "Mon-Fri 09:30-16:00 America/New_York"'
            )
        return text
    for part in text.split(";"):
        match = _SESSION.fullmatch(part.strip())
        if match is None:
            raise ConfigError(
                f'{where} {part.strip()!r} is not "<days> <HH:MM>-<HH:MM> <timezone>", '
                'e.g. "Mon-Fri 09:30-16:00 America/New_York"'
            )
        days = re.split(r"[,-]", match["days"].replace(" ", ""))
        for day in days:
            if day.lower() not in _DAYS:
                names = ", ".join(d.capitalize() for d in _DAYS)
                raise ConfigError(f"{where} unknown day {day!r} in {part.strip()!r}; use {names}")
        for moment in (match["open"], match["close"]):
            if int(moment[:-3]) > 23 or int(moment[-2:]) > 59:
                raise ConfigError(f"{where} {moment!r} is not a time of day")
        if match["open"].zfill(5) == match["close"].zfill(5):
            raise ConfigError(f'{where} open equals close in {part.strip()!r}; use "24/7"')
        try:
            ZoneInfo(match["zone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"{where} unknown timezone {match['zone']!r}; use an IANA name like Europe/London"
            ) from None
    return text


def _normalise(text: str) -> str:
    return _SEPARATORS.sub("", text).upper()


def _candidate_keys(text: str) -> list[str]:
    keys = [_normalise(text)]
    suffixed = _SUFFIX.fullmatch(text)
    if suffixed and (len(suffixed["suffix"]) <= 2 or not suffixed["suffix"].isupper()):
        keys.append(_normalise(suffixed["stem"]))
    tail = _LOWER_TAIL.fullmatch(text)
    if tail:
        keys.append(_normalise(tail["stem"]))
    return list(dict.fromkeys(k for k in keys if k))
