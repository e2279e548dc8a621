"""Currency conversion from the latest prices of FX instruments, or fixed rates."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from tradeloop.core.errors import ConfigError
from tradeloop.model.cache import Cache
from tradeloop.model.enums import AssetClass
from tradeloop.model.instrument import to_decimal

_ONE = Decimal(1)


class FxRates:
    """Converts amounts between currencies.

    A direct or inverse FX pair among the cache's instruments (USDJPY for JPY to USD) wins, at
    its latest price; otherwise a fixed rate given up front is used.

    Parameters
    ----------
    cache : Cache
        Where instruments and latest prices are read.
    fixed : mapping, optional
        ``{"JPY/USD": 0.0067}``: units of the second currency per one of the first.
    """

    def __init__(self, cache: Cache, fixed: Mapping[str, float | Decimal] | None = None) -> None:
        self._cache = cache
        self._fixed = {k.upper(): to_decimal(v) for k, v in (fixed or {}).items()}
        self._pairs: dict[tuple[str, str], tuple[str, bool]] = {}
        self._indexed = -1
        self._inverses: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (price, 1 / price)

    def _pair_index(self) -> dict[tuple[str, str], tuple[str, bool]]:
        instruments = self._cache.instruments
        if self._indexed != len(instruments):
            self._pairs.clear()
            for inst in instruments.values():
                if inst.asset_class is AssetClass.FX:
                    self._pairs[(inst.base_currency, inst.quote_currency)] = (inst.symbol, False)
                    self._pairs[(inst.quote_currency, inst.base_currency)] = (inst.symbol, True)
            self._indexed = len(instruments)
        return self._pairs

    def _inverse(self, symbol: str, price: Decimal) -> Decimal:
        known = self._inverses.get(symbol)
        if known is not None and known[0] is price:
            return known[1]
        inverse = Decimal(1) / price
        self._inverses[symbol] = (price, inverse)
        return inverse

    def source(self, from_ccy: str, to_ccy: str) -> tuple[str, bool] | None:
        """Return ``(symbol, inverted)`` of the instrument that converts, or None."""
        return self._pair_index().get((from_ccy, to_ccy))

    def rate(self, from_ccy: str, to_ccy: str) -> Decimal:
        """Units of ``to_ccy`` per unit of ``from_ccy``.

        Raises
        ------
        ConfigError
            When neither an FX instrument with a price nor a fixed rate converts the pair.
        """
        if from_ccy == to_ccy:
            return _ONE
        found = self.source(from_ccy, to_ccy)
        if found is not None:
            symbol, inverted = found
            px = self._cache.mark(symbol)
            if px:
                return self._inverse(symbol, px) if inverted else px
        fixed = self._fixed.get(f"{from_ccy}/{to_ccy}")
        if fixed is not None:
            return fixed
        inverse = self._fixed.get(f"{to_ccy}/{from_ccy}")
        if inverse is not None:
            return Decimal(1) / inverse
        raise ConfigError(
            f"cannot convert {from_ccy} to {to_ccy}: add {from_ccy}{to_ccy} or {to_ccy}{from_ccy} "
            f"data, or give a fixed rate such as {from_ccy}/{to_ccy}=..."
        )

    def fixed_rate(self, from_ccy: str, to_ccy: str) -> Decimal | None:
        """The fixed rate for the pair, if one was given."""
        if from_ccy == to_ccy:
            return Decimal(1)
        fixed = self._fixed.get(f"{from_ccy}/{to_ccy}")
        if fixed is not None:
            return fixed
        inverse = self._fixed.get(f"{to_ccy}/{from_ccy}")
        return None if inverse is None else Decimal(1) / inverse
