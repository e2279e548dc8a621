"""Bases of the indicators with one period, or one period and one source field (private)."""

from __future__ import annotations

from typing import ClassVar

from tradeloop.indicators._validate import check_period, check_source, source_suffix
from tradeloop.indicators.base import Indicator


class PeriodIndicator(Indicator):
    # Provides ``period`` and the name ``"LABEL(period)"``; subclasses set ``_label`` and store
    # the checked period in ``_period`` before calling ``Indicator.__init__``.
    __slots__ = ("_period",)

    _label: ClassVar[str]
    _period: int

    @property
    def period(self) -> int:
        """int : The window length, or the smoothing period or span of a recursive average."""
        return self._period

    @property
    def name(self) -> str:
        """str : Indicator and period, such as ``"ATR(14)"``."""
        return f"{self._label}({self._period})"


class SourceIndicator(PeriodIndicator):
    # One bar field: checks ``period`` then ``source`` and feeds that field with a warmup of
    # ``period + extra_warmup``; the name shows a source other than ``_default_source``.
    __slots__ = ("_source",)

    _default_source: ClassVar[str] = "close"

    def __init__(
        self, period: int, source: str, *, minimum: int = 1, extra_warmup: int = 0
    ) -> None:
        self._period = check_period(self._label, period, minimum=minimum)
        self._source = check_source(self._label, source)
        super().__init__((self._source,), self._period + extra_warmup)

    @property
    def name(self) -> str:
        """str : Indicator and period, such as ``"SMA(10)"``, plus any non-default source."""
        return f"{self._label}({self._period}{source_suffix(self._source, self._default_source)})"
