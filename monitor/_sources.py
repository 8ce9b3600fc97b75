"""Reading ``driftline check``'s input files: validation, format detection, streaming batches.

Kept apart from the check itself so that ``monitor.check`` reads as the comparison it performs.
CSV files are streamed in blocks with the reference's column types; Parquet files through small
buffers, one row group at a time, so memory stays bounded whatever the file size.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

__all__ = ["CheckInputError", "ColumnStoppedParsing", "Source"]

_CSV_BLOCK_BYTES = 16 << 20
_PARQUET_BUFFER_BYTES = 1 << 20
_COMPRESSED = (".gz", ".bz2", ".zst")


class CheckInputError(ValueError):
    """An input ``driftline check`` cannot compare; ``path`` is the file at fault, if one is."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(" ".join(message.split()))  # one line, whatever Arrow said
        self.path = path


# -- reading files --------------------------------------------------------------------------------


class ColumnStoppedParsing(Exception):
    """A CSV column held a value its type (inferred from the first block) cannot take."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(column, reason)
        self.column = column
        self.reason = reason


@dataclass(slots=True)
class Source:
    """One validated input file."""

    path: Path
    format: Literal["csv", "parquet"]
    delimiter: str = ","
    parquet: pq.ParquetFile | None = None  # opened on first use

    @staticmethod
    def open(path: Path) -> Source:
        if not path.exists():
            raise CheckInputError(f"{path}: no such file", path=path)
        if not path.is_file():
            raise CheckInputError(f"{path}: not a regular file", path=path)
        try:
            with path.open("rb") as handle:
                head = handle.read(4096)
        except OSError as exc:
            raise CheckInputError(f"{path}: cannot read: {exc.strerror or exc}", path=path) from None
        if not head:
            raise CheckInputError(f"{path}: the file is empty", path=path)
        suffixes = [s.lower() for s in path.suffixes]
        compressed = bool(suffixes) and suffixes[-1] in _COMPRESSED
        core = (suffixes[-2] if len(suffixes) > 1 else "") if compressed else (suffixes[-1] if suffixes else "")
        if head[:4] == b"PAR1" or core in (".parquet", ".pq"):
            return Source(path, "parquet")
        if core in (".csv", ".tsv"):
            if not compressed and b"\0" in head:
                raise CheckInputError(f"{path}: not a text file, so not CSV", path=path)
            return Source(path, "csv", "\t" if core == ".tsv" else ",")
        raise CheckInputError(f"{path}: not a CSV or Parquet file (use .csv, .tsv or .parquet)", path=path)

    def _fail(self, exc: BaseException) -> CheckInputError:
        what = "Parquet" if self.format == "parquet" else "CSV"
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return CheckInputError(f"{self.path}: cannot read as {what}: {detail}", path=self.path)

    def _open_parquet(self) -> pq.ParquetFile:
        try:
            # Stream column chunks through small buffers: by default a whole row group is loaded
            # first, which for a file written as one row group is the whole file.
            return pq.ParquetFile(self.path, buffer_size=_PARQUET_BUFFER_BYTES, pre_buffer=False)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise self._fail(exc) from None

    def close(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
            self.parquet = None

    def _parquet(self) -> pq.ParquetFile:
        if self.parquet is None:
            self.parquet = self._open_parquet()
        return self.parquet

    def first_types(self) -> dict[str, pa.DataType]:
        """Column types: Parquet's schema; for CSV, as inferred from the first block."""
        if self.format == "parquet":
            schema = self._parquet().schema_arrow
        else:
            try:
                with self._csv_reader() as reader:
                    schema = reader.schema
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise self._fail(exc) from None
        seen: set[str] = set()
        for name in schema.names:
            if name in seen:
                raise CheckInputError(f"{self.path}: column {name!r} appears more than once", path=self.path)
            seen.add(name)
        return {field.name: field.type for field in schema}

    def parquet_rows(self) -> int:
        return int(self._parquet().metadata.num_rows)

    def read_parquet_column(self, name: str) -> pa.Table:
        """One column; safe to call from several threads (each opens the file anew)."""
        try:
            with self._open_parquet() as handle:
                return handle.read(columns=[name])
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise self._fail(exc) from None

    @contextmanager
    def _csv_reader(self, convert: pa_csv.ConvertOptions | None = None) -> Iterator[pa.RecordBatchReader]:
        with (
            pa.input_stream(str(self.path), compression="detect") as stream,
            pa_csv.open_csv(
                stream,
                read_options=pa_csv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
                parse_options=pa_csv.ParseOptions(delimiter=self.delimiter),
                convert_options=convert,
            ) as reader,
        ):
            yield reader

    def batches(
        self, columns: list[str], batch_rows: int, csv_types: dict[str, pa.DataType] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Record batches of ``columns``: Parquet's ``batch_rows`` at a time, a CSV's block at a time.

        A CSV is read with ``csv_types``; a value that does not fit its column's type raises
        :class:`ColumnStoppedParsing`.
        """
        if self.format == "parquet":
            try:
                yield from self._parquet().iter_batches(batch_size=batch_rows, columns=columns)
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise self._fail(exc) from None
            return
        header = list(self.first_types())
        if not columns:  # Arrow reads every column for none: read one, as text, to count rows
            columns, csv_types = header[:1], dict.fromkeys(header[:1], pa.string())
        try:
            convert = pa_csv.ConvertOptions(column_types=csv_types or {}, include_columns=columns)
            with self._csv_reader(convert) as reader:
                yield from reader
        except pa.ArrowInvalid as exc:
            found = re.search(r"CSV column #(\d+)", str(exc))
            index = int(found.group(1)) if found is not None else -1
            if 0 <= index < len(header) and header[index] in columns:
                detail = " ".join(str(exc).split(": ", 1)[-1].split())
                raise ColumnStoppedParsing(header[index], detail) from None
            raise self._fail(exc) from None
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise self._fail(exc) from None
