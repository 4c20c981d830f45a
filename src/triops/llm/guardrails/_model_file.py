"""Opening a shipped model's ``.npz``, or one a rule names by path."""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numpy.lib.npyio import NpzFile


@contextlib.contextmanager
def model_file(path: Path, what: str) -> Iterator[NpzFile]:
    """The open ``.npz`` at ``path``. A file that is not one, or lacks an entry a model
    has, is a ``ValueError`` naming ``what`` (a rule's options become a 400 with it,
    never a 500); object arrays stay refused (``allow_pickle`` is off), so opening a
    file never runs code from it."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{what} is not a readable model file ({exc})") from None
    if not isinstance(data, NpzFile):
        raise ValueError(f"{what} is not an .npz archive")  # noqa: TRY004 - bad file content, not a caller type
    with data:
        try:
            yield data
        except KeyError as exc:
            raise ValueError(f"{what} lacks the entry {exc}") from None
