"""The streaming indicator interface shared by every indicator.

An indicator is fed one bar at a time through :meth:`Indicator.update` (O(1) per call, plain
Python floats) and has a vectorised twin, :meth:`Indicator.batch`, that computes the same numbers
over whole columns with NumPy. Both follow TA-Lib's conventions, so ``value`` is ``nan`` until
``count >= warmup`` and finite afterwards on clean data.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

NAN = math.nan

#: Bar fields an indicator may read, in the names used by ``tradeloop.model.data.Bar``.
BAR_FIELDS: frozenset[str] = frozenset({"open", "high", "low", "close", "volume", "ts"})
#: Bar fields usable as the ``source`` of a single-input indicator.
PRICE_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")


class Indicator(ABC):
    """Base class of the streaming indicators.

    Subclasses set ``inputs`` and ``warmup`` in ``__init__`` and implement :meth:`update`,
    :meth:`reset` (calling ``super().reset()``), ``_batch`` and ``name``.

    Attributes
    ----------
    inputs : tuple of str
        The bar fields fed to :meth:`update`, in order, from
        ``{"open", "high", "low", "close", "volume", "ts"}``.
    outputs : tuple of str
        Names of the extra output attributes besides ``value`` (``()`` for single-output
        indicators). Each is a plain float attribute, ``nan`` until :attr:`ready`.
    warmup : int
        Number of :meth:`update` calls before ``value`` is valid.
    value : float
        The primary output; ``nan`` until :attr:`ready`.
    prev : float
        The ``value`` before the latest update (``nan`` at first).
    count : int
        Number of :meth:`update` calls so far.
    """

    __slots__ = ("count", "inputs", "prev", "value", "warmup")

    outputs: tuple[str, ...] = ()

    inputs: tuple[str, ...]
    warmup: int
    value: float
    prev: float
    count: int

    def __init__(self, inputs: tuple[str, ...], warmup: int) -> None:
        unknown = [field for field in inputs if field not in BAR_FIELDS]
        if unknown:
            raise ValueError(f"unknown bar fields {unknown}; expected some of {sorted(BAR_FIELDS)}")
        self.inputs = inputs
        self.warmup = warmup
        self.reset()

    @property
    def ready(self) -> bool:
        """bool : Whether ``value`` is valid, i.e. ``count >= warmup``."""
        return self.count >= self.warmup

    @property
    @abstractmethod
    def name(self) -> str:
        """str : A short label with the parameters, such as ``"SMA(10)"``."""

    def __repr__(self) -> str:
        return self.name

    @abstractmethod
    def update(self, *values: float) -> None:
        """Consume one bar.

        Parameters
        ----------
        *values : float
            The bar fields named in :attr:`inputs`, in that order (``ts`` as int nanoseconds).
        """

    def update_bar(self, bar: object) -> None:
        """Consume one bar given as an object with the fields named in :attr:`inputs`.

        Parameters
        ----------
        bar : object
            Anything with those attributes, e.g. a :class:`tradeloop.model.data.Bar`.
        """
        self.update(*[getattr(bar, field) for field in self.inputs])

    def reset(self) -> None:
        """Forget every bar seen, returning to the state right after construction."""
        self.value = NAN
        self.prev = NAN
        self.count = 0
        for output in self.outputs:
            setattr(self, output, NAN)

    def batch(self, *arrays: npt.ArrayLike) -> dict[str, FloatArray]:
        """Compute the indicator over whole columns, without touching the streaming state.

        Parameters
        ----------
        *arrays : array_like
            One 1-D column per entry of :attr:`inputs`, in that order, all of the same length.

        Returns
        -------
        dict of str to ndarray of float64
            ``"value"`` and one entry per name in :attr:`outputs`; element ``i`` is what the
            streaming indicator holds after ``i + 1`` updates, ``nan`` where not ready.

        Raises
        ------
        ValueError
            If the number of columns, their dimensions or their lengths are wrong.
        """
        if len(arrays) != len(self.inputs):
            raise ValueError(
                f"{self.name}.batch expects {len(self.inputs)} arrays "
                f"({', '.join(self.inputs)}), got {len(arrays)}"
            )
        columns: list[np.ndarray] = []
        for field, array in zip(self.inputs, arrays, strict=True):
            dtype = np.int64 if field == "ts" else np.float64
            column = np.asarray(array, dtype=dtype)
            if column.ndim != 1:
                raise ValueError(
                    f"{self.name}.batch: column {field!r} must be 1-D, got shape {column.shape}"
                )
            columns.append(column)
        lengths = {column.size for column in columns}
        if len(lengths) > 1:
            raise ValueError(f"{self.name}.batch: columns differ in length: {sorted(lengths)}")
        return self._batch(columns)

    @abstractmethod
    def _batch(self, columns: Sequence[np.ndarray]) -> dict[str, FloatArray]: ...
