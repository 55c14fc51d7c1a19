"""Load a pickled numpy array without letting the pickle run code.

A pickle names the callables that rebuild its objects; an ordinary :func:`pickle.load` imports and calls whatever it
names (``os.system`` included). :func:`load_pickled_array` resolves names through a fixed table instead: the few
numpy internals that rebuild a plain ``ndarray`` (protocols 2–5, written by numpy 1.x or 2.x), and a latin-1 string
encoder used by protocol 2. Any other name, a persistent id, or a result that is not a plain non-object ``ndarray``
raises :class:`UnsafePickleError` naming the file; nothing named by the file is imported or called.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's ndarray._reconstruct, wherever it lives
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]  # numpy's _frombuffer (protocol 5)


class UnsafePickleError(ValueError):
    """A pickle refers to something other than a numpy array, or does not hold a plain numpy array."""


class PickleReadError(ValueError):
    """A pickle file is missing, truncated or malformed."""


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"only numpy.ndarray may be rebuilt, not {subtype!r}")
    return _RECONSTRUCT(subtype, shape, dtype)


def _latin1_encode(text: Any, encoding: str = "latin1") -> bytes:
    """Protocol 2 stores an array's raw bytes as ``_codecs.encode(str, 'latin1')``; nothing else is accepted."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode is only allowed as (str, 'latin1'), got encoding {encoding!r}")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("_codecs", "encode"): _latin1_encode,
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase, where: str) -> None:
        super().__init__(file)
        self._where = where

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load {self._where}: it refers to {module}.{name}, and only numpy arrays are accepted "
                "(a pickle can run arbitrary code; convert trusted files to the project's cache instead)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"refusing to load {self._where}: persistent ids are not allowed, only numpy arrays")


def load_pickled_array(path: str | os.PathLike) -> np.ndarray:
    """Load ``path``, a pickle of one plain numpy array, without running code named by the file.

    Raises :class:`UnsafePickleError` when the file refers to anything but numpy's array machinery or holds anything
    but a non-object ``numpy.ndarray``, and :class:`PickleReadError` when it is unreadable or truncated.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PickleReadError(f"cannot read {path}: {exc}") from exc
    try:
        obj = _ArrayOnlyUnpickler(io.BytesIO(data), str(path)).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise PickleReadError(f"{path} is not a readable numpy array pickle ({type(exc).__name__}: {exc})") from exc
    if type(obj) is not np.ndarray:
        raise UnsafePickleError(f"{path} holds a {type(obj).__name__}; only a numpy array is accepted")
    if obj.dtype.hasobject:
        raise UnsafePickleError(f"{path} holds an object array; only plain numeric arrays are accepted")
    return obj


__all__ = ["PickleReadError", "UnsafePickleError", "load_pickled_array"]
