"""Reading CSV and Parquet files into pandas frames, shared by the bar and tick loaders.

CSV files may use a comma, semicolon, tab or pipe between fields (sniffed from the header line),
a decimal comma when the delimiter is not a comma, and UTF-8 or UTF-16 (MetaTrader) text; blank
lines before the header are skipped. Every failure is a one-line
:class:`~tradeloop.core.errors.DataError` (or :class:`~tradeloop.core.errors.ConfigError` for an
unknown timezone) that starts with the path. Files are only read, never modified.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

from tradeloop.core.errors import ConfigError, DataError
from tradeloop.model.data import FloatArray, IntArray

PARQUET_SUFFIXES = (".parquet", ".pq")
"""File name endings read as Parquet (compared in lower case); anything else is read as text."""
HEAD_ROWS = 200
"""Rows read to choose the columns of a file."""

_DELIMITERS = (",", ";", "\t", "|")
_SNIFF_BYTES = 64 * 1024
_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")


@dataclass(frozen=True, slots=True)
class CsvLayout:
    """How a delimited text file is written, as sniffed from its first bytes.

    Attributes
    ----------
    delimiter : str
        ``","``, ``";"``, ``"\\t"`` or ``"|"``: the most frequent of them in the header line.
    decimal : str
        ``","`` when the delimiter is not a comma and a cell of the first rows is a number
        written with a decimal comma, else ``"."``.
    encoding : str
        ``"utf-16"`` (byte order mark), ``"utf-8-sig"`` or ``"utf-8"``.
    leading_lines : int
        Blank lines before the header.
    """

    delimiter: str
    decimal: str
    encoding: str
    leading_lines: int


def existing_file(path: str | os.PathLike[str]) -> tuple[Path, str]:
    """Check that ``path`` is a regular file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    tuple of (Path, str)
        The path, and the text form the caller gave for use in messages.

    Raises
    ------
    DataError
        ``"{path}: no such file"`` or ``"{path}: not a file"``.
    """
    source = os.fspath(path)
    file = Path(source)
    if not file.is_file():
        raise DataError(f"{source}: {'not a file' if file.exists() else 'no such file'}")
    return file, source


def is_parquet(path: Path) -> bool:
    """Return True when ``path`` ends in one of :data:`PARQUET_SUFFIXES`.

    Parameters
    ----------
    path : Path

    Returns
    -------
    bool
    """
    return path.suffix.lower() in PARQUET_SUFFIXES


def check_timezone_name(timezone: str) -> None:
    """Check that ``timezone`` is an IANA timezone name known to this system.

    Parameters
    ----------
    timezone : str
        For example ``"UTC"`` or ``"America/New_York"``.

    Raises
    ------
    ConfigError
        An unknown or malformed name.
    """
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"unknown timezone {timezone!r}: use an IANA name such as 'UTC', "
            "'America/New_York' or 'Europe/London'"
        ) from exc


def _encoding(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    return "utf-8"


def sniff_csv(path: Path, source: str) -> CsvLayout:
    """Find the delimiter, decimal mark, encoding and leading blank lines of a text file.

    Parameters
    ----------
    path : Path
        The file; only its first 64 KiB are read.
    source : str
        The path as the caller gave it, for messages.

    Returns
    -------
    CsvLayout

    Raises
    ------
    DataError
        ``"{source}: the file is empty"`` when it holds only blank lines.
    """
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    encoding = _encoding(head)
    text = head.decode(encoding, errors="replace")
    lines = text.splitlines()
    if len(head) == _SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut short
    leading = 0
    while leading < len(lines) and not lines[leading].strip():
        leading += 1
    if leading == len(lines):
        raise DataError(f"{source}: the file is empty")
    header = lines[leading]
    counts = {d: header.count(d) for d in _DELIMITERS}
    delimiter = max(_DELIMITERS, key=lambda d: counts[d])
    decimal = "."
    if delimiter != ",":
        cells = [c for line in lines[leading + 1 : leading + 50] for c in line.split(delimiter)]
        if any(_DECIMAL_COMMA.match(c) for c in cells):
            decimal = ","
    return CsvLayout(delimiter, decimal, encoding, leading)


def csv_read_options(layout: CsvLayout) -> dict[str, object]:
    """Return the :func:`pandas.read_csv` keyword arguments that read a file of ``layout``.

    Parameters
    ----------
    layout : CsvLayout

    Returns
    -------
    dict of str to object
        ``sep``, ``decimal``, ``encoding``, ``encoding_errors``, ``skiprows`` and
        ``skipinitialspace``.
    """
    return {
        "sep": layout.delimiter,
        "decimal": layout.decimal,
        "encoding": layout.encoding,
        "encoding_errors": "replace",
        "skiprows": layout.leading_lines,
        "skipinitialspace": True,
    }


def layout_notes(layout: CsvLayout) -> list[str]:
    """Describe what is unusual about ``layout``, for a load report.

    Parameters
    ----------
    layout : CsvLayout

    Returns
    -------
    list of str
        ``"fields separated by ';'"`` (or ``tab``) when the delimiter is not a comma, and
        ``"decimal comma"``; empty for a plain comma-separated file.
    """
    notes = []
    if layout.delimiter != ",":
        tab = layout.delimiter == "\t"
        notes.append(f"fields separated by {'tab' if tab else repr(layout.delimiter)}")
    if layout.decimal == ",":
        notes.append("decimal comma")
    return notes


def csv_failure(source: str, exc: Exception) -> DataError:
    """Turn a pandas parsing error into a one-line :class:`DataError`.

    Parameters
    ----------
    source, exc : str, Exception
        The path as the caller gave it, and what :func:`pandas.read_csv` raised for it.

    Returns
    -------
    DataError
        ``"{source}: cannot read as CSV ({detail})"``, with the last line of the pandas message.
    """
    detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return DataError(f"{source}: cannot read as CSV ({detail})")


def parquet_failure(source: str, exc: Exception) -> DataError:
    """Turn a pyarrow error into a one-line :class:`DataError` a user can act on.

    Parameters
    ----------
    source : str
        The path as the caller gave it; starts the message.
    exc : Exception
        What pyarrow raised while opening or reading the file.

    Returns
    -------
    DataError
        ``"{source}: cannot read as Parquet ({reason})"``; a missing footer (a truncated file,
        or not Parquet at all) and an empty file are named as such.
    """
    text = " ".join(str(exc).split())
    text = re.sub(r"^Could not open Parquet input source '[^']*':\s*", "", text)
    if "magic bytes not found" in text:
        reason = "no Parquet footer: the file is truncated or is not a Parquet file"
    elif "file size is 0 bytes" in text:
        reason = "the file is empty"
    else:
        reason = text or type(exc).__name__
    return DataError(f"{source}: cannot read as Parquet ({reason})")


def index_as_column(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn a stored (non-range) index into a column, as pandas writes a time index to Parquet.

    Parameters
    ----------
    frame : DataFrame

    Returns
    -------
    DataFrame
        ``frame`` itself when its index is a plain range; else with the index as a column,
        named ``"timestamp"`` when it was an unnamed datetime index.
    """
    if isinstance(frame.index, pd.RangeIndex):
        return frame
    name = frame.index.name
    frame = frame.reset_index()
    if name is None and is_datetime64_any_dtype(frame["index"].dtype):
        frame = frame.rename(columns={"index": "timestamp"})
    return frame


@dataclass(frozen=True, slots=True)
class FileColumns:
    """Chosen columns of a whole file, with the row number of each entry.

    Attributes
    ----------
    frame : DataFrame
        One row per line after the header (CSV: blank lines included, as empty rows) or per
        Parquet record, positionally indexed from 0.
    rows : ndarray of int64
        The spreadsheet row number of each row of ``frame``: the header is row 1, so the first
        data row is row 2 (plus any blank lines before a CSV header).
    notes : list of str
        What is unusual about the file's layout (see :func:`layout_notes`).
    """

    frame: pd.DataFrame
    rows: IntArray
    notes: list[str]


def read_head(path: Path, source: str) -> pd.DataFrame:
    """Read the first :data:`HEAD_ROWS` rows of a file, for choosing its columns.

    Parameters
    ----------
    path : Path
        A Parquet file (see :func:`is_parquet`) or a delimited text file.
    source : str
        The path as the caller gave it, for messages.

    Returns
    -------
    DataFrame
        Text cells for a CSV file; typed values for Parquet, with a stored index turned into
        a column (see :func:`index_as_column`).

    Raises
    ------
    DataError
        The file cannot be read (see :func:`csv_failure` and :func:`parquet_failure`).
    """
    if not is_parquet(path):
        options = csv_read_options(sniff_csv(path, source))
        try:
            head: pd.DataFrame = pd.read_csv(  # type: ignore[call-overload]
                path, nrows=HEAD_ROWS, dtype="str", **options
            )
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
            raise csv_failure(source, exc) from exc
        return head
    try:
        parquet = pq.ParquetFile(path)
        batch = next(parquet.iter_batches(batch_size=HEAD_ROWS), None)
        table = parquet.schema_arrow.empty_table() if batch is None else batch
        return index_as_column(table.to_pandas())
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise parquet_failure(source, exc) from exc


def read_columns(
    path: Path, source: str, usecols: list[str], text_columns: list[str]
) -> FileColumns:
    """Read chosen columns of a whole CSV or Parquet file.

    Parameters
    ----------
    path, source : Path, str
        The file, read as :func:`read_head` reads it, and its path as the caller gave it.
    usecols : list of str
        The columns to read, as named in the file (or by :func:`index_as_column`).
    text_columns : list of str
        CSV columns read as text (so that ``"093000"`` keeps its leading zero); the others
        keep the type pandas infers, and a column mixing numbers and text is left to the caller
        to check cell by cell. Parquet columns keep their stored types.

    Returns
    -------
    FileColumns

    Raises
    ------
    DataError
        The file cannot be read or lacks a column of ``usecols``.
    """
    if is_parquet(path):
        try:
            whole: pd.DataFrame = pq.read_table(path).to_pandas()
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise parquet_failure(source, exc) from exc
        frame = index_as_column(whole)[usecols].reset_index(drop=True)
        return FileColumns(frame, np.arange(len(frame), dtype=np.int64) + 2, [])
    layout = sniff_csv(path, source)
    try:
        with warnings.catch_warnings():
            # a column mixing numbers and text is handled (and reported) cell by cell
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            frame = pd.read_csv(  # type: ignore[call-overload]
                path,
                usecols=usecols,
                dtype=dict.fromkeys(text_columns, "str"),
                skip_blank_lines=False,
                **csv_read_options(layout),
            )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise csv_failure(source, exc) from exc
    rows = np.arange(len(frame), dtype=np.int64) + layout.leading_lines + 2
    return FileColumns(frame, rows, layout_notes(layout))


def numeric_values(column: pd.Series) -> tuple[FloatArray, pd.Series | None]:
    """Convert a column to float64, keeping the cells as written when they were text.

    Parameters
    ----------
    column : Series
        Numbers, or text that should hold numbers.

    Returns
    -------
    tuple of (ndarray of float64, Series or None)
        The values, NaN where a cell is empty or not a number; and ``column`` itself when it
        was not numeric (so that a message can quote the bad cell), else None.
    """
    if is_numeric_dtype(column.dtype) and not is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan), None
    values = pd.to_numeric(column, errors="coerce")
    return values.to_numpy(dtype=np.float64, na_value=np.nan), column


__all__ = [
    "HEAD_ROWS",
    "PARQUET_SUFFIXES",
    "CsvLayout",
    "FileColumns",
    "check_timezone_name",
    "csv_failure",
    "csv_read_options",
    "existing_file",
    "index_as_column",
    "is_parquet",
    "layout_notes",
    "numeric_values",
    "parquet_failure",
    "read_columns",
    "read_head",
    "sniff_csv",
]
