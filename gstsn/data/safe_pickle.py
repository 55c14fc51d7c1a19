"""Load a pickled numpy array without letting the pickle run code.

A pickle names the callables that rebuild its objects; an ordinary :func:`pickle.load` imports and calls whatever it
names (``os.system`` included). :func:`load_pickled_array` resolves names through a fixed table instead: the few
numpy internals that rebuild a plain ``ndarray`` (protocols 2–5, written by numpy 1.x or 2.x), and the latin-1 string
encoder and empty ``bytes()`` used by protocol 2. Any other name, a persistent id, or a result that is not a plain
non-object ``ndarray`` raises :class:`UnsafePickleError` naming the file; nothing named by the file is imported or
called.

Sizes are bounded before anything is allocated: an array's data is stored in the pickle itself, so every array a
file asks for (shape × item size, all of them together) must fit in the file's own size, and a file larger than
``MAX_PICKLE_BYTES`` is not read. ``numpy.ndarray`` may be named as the type to rebuild but never called, and object
dtypes are refused where the dtype is built and again where the array is.
"""

from __future__ import annotations

import io
import math
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]  # numpy's _frombuffer (protocol 5)
MAX_PICKLE_BYTES = 1 << 30  # a sequence pickle larger than this is not read (CASIA-B's are ~1 MB)
_MAX_NDIM = 32


class UnsafePickleError(ValueError):
    """A pickle refers to something other than a numpy array, or does not hold a plain numpy array."""


class PickleReadError(ValueError):
    """A pickle file is missing, truncated or malformed."""


class _ArrayType:
    """Stands for ``numpy.ndarray`` in a pickle: it may be named as the type to rebuild, never called (calling
    ``ndarray(shape)`` would allocate whatever size the file asks for)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise pickle.UnpicklingError("numpy.ndarray may only be named as the type to rebuild, not called")


_NDARRAY = _ArrayType()


class _Limits:
    """What one file may ask for: an array's data is stored in the pickle, so it is never larger than the file."""

    def __init__(self, where: str, file_bytes: int) -> None:
        self.where, self.file_bytes = where, file_bytes
        self.used = 0  # bytes of every array asked for so far: all of them together must fit in the file too

    def shape(self, shape: Any) -> tuple[int, ...]:
        if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
            shape = (shape,)
        if (
            not isinstance(shape, tuple)
            or len(shape) > _MAX_NDIM
            or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in shape)
        ):
            raise UnsafePickleError(
                f"refusing to load {self.where}: array shape {shape!r} is not a tuple of at most {_MAX_NDIM} "
                "non-negative integers"
            )
        return tuple(int(n) for n in shape)

    def dtype(self, dtype: Any) -> np.dtype:
        if isinstance(dtype, (str, bytes)):
            try:
                dtype = np.dtype(dtype)
            except (TypeError, ValueError) as exc:
                raise UnsafePickleError(f"refusing to load {self.where}: {dtype!r} is not a dtype ({exc})") from exc
        if not isinstance(dtype, np.dtype):
            raise UnsafePickleError(f"refusing to load {self.where}: {type(dtype).__name__} {dtype!r} is not a dtype")
        if dtype.hasobject:
            raise UnsafePickleError(f"refusing to load {self.where}: it holds an object array; only plain numeric "
                                    "arrays are accepted")  # fmt: skip
        return dtype

    def allocation(self, shape: Any, dtype: Any) -> tuple[tuple[int, ...], np.dtype]:
        """Check ``shape`` × ``dtype`` against the file's size before anything of that size is allocated."""
        shape, dtype = self.shape(shape), self.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
        if self.used + nbytes > self.file_bytes:
            before = f" after {_size(self.used)} of other arrays" if self.used else ""
            raise UnsafePickleError(
                f"refusing to load {self.where}: it asks for an array of shape {shape} and dtype {dtype} "
                f"({_size(nbytes)}{before}), but the file holds only {_size(self.file_bytes)} and a pickled "
                "array's data is stored in the file (expected: one array no larger than the file, e.g. uint8 "
                "(T, 64, 64))"
            )
        self.used += nbytes
        return shape, dtype


def _size(n: int) -> str:
    return f"{n:,} bytes" if n < 10**6 else f"{n / 1e9:,.1f} GB" if n >= 10**9 else f"{n / 1e6:,.1f} MB"


class _PendingArray:
    """What ``_reconstruct`` returns: the array is allocated only once its state (shape, dtype, data) has been
    checked against the file's size; the unpickler's BUILD step calls :meth:`__setstate__`."""

    def __init__(self, limits: _Limits, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.limits, self.shape, self.dtype = limits, shape, dtype
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if self.array is not None or not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError("malformed ndarray state")
        version = state[:-4]
        shape, dtype, fortran, data = state[-4:]
        shape, dtype = self.limits.allocation(shape, dtype)
        if not isinstance(data, (bytes, bytearray)):
            raise UnsafePickleError(
                f"refusing to load {self.limits.where}: the array's data is a {type(data).__name__}, not bytes "
                "(object arrays are not accepted)"
            )
        arr = np.ndarray((0,), dtype=np.uint8)
        arr.__setstate__((*version, shape, dtype, bool(fortran), data))  # numpy checks len(data) == the size
        self.array = arr

    def result(self) -> np.ndarray:
        if self.array is None:  # _reconstruct without a state: the empty-shaped array it names
            shape, dtype = self.limits.allocation(self.shape, self.dtype)
            self.array = np.ndarray(shape, dtype=dtype)
        return self.array


def _latin1_encode(text: Any, encoding: str = "latin1") -> bytes:
    """Protocol 2 stores an array's raw bytes as ``_codecs.encode(str, 'latin1')``; nothing else is accepted."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode is only allowed as (str, 'latin1'), got encoding {encoding!r}")
    return text.encode("latin1")


def _empty_bytes(*args: Any) -> bytes:
    """Protocol 2 writes an empty array's data as ``bytes()``; ``bytes(n)`` (n zero bytes) is not accepted."""
    if args:
        raise pickle.UnpicklingError("bytes(...) is only allowed without arguments (an empty array's data)")
    return b""


def _allowed(limits: _Limits) -> dict[tuple[str, str], Any]:
    """The only names a pickle may use, each bound to ``limits``: checked before anything is allocated."""

    def reconstruct(subtype: Any, shape: Any, dtype: Any) -> _PendingArray:
        if subtype is not _NDARRAY:
            raise pickle.UnpicklingError(f"only numpy.ndarray may be rebuilt, not {subtype!r}")
        return _PendingArray(limits, *limits.allocation(shape, dtype))

    def frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
        if not isinstance(buf, (bytes, bytearray, pickle.PickleBuffer)):
            raise pickle.UnpicklingError(f"_frombuffer needs bytes, not {type(buf).__name__}")
        shape, dtype = limits.allocation(shape, dtype)
        return _FROMBUFFER(buf, dtype, shape, order)  # a view of ``buf``, reshaped (numpy checks the size)

    def make_dtype(*args: Any) -> np.dtype:
        if not args or not isinstance(args[0], (str, bytes)):
            raise pickle.UnpicklingError("numpy.dtype may only be built from a type string such as 'u1'")
        return limits.dtype(np.dtype(*args))

    out: dict[tuple[str, str], Any] = {("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): make_dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[(module, "_reconstruct")] = reconstruct
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        out[(module, "_frombuffer")] = frombuffer
    out[("_codecs", "encode")] = _latin1_encode
    out[("__builtin__", "bytes")] = out[("builtins", "bytes")] = _empty_bytes
    return out


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase, where: str, file_bytes: int) -> None:
        super().__init__(file)
        self._where = where
        self._allowed = _allowed(_Limits(where, file_bytes))

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load {self._where}: it refers to {module}.{name}, and only numpy arrays are accepted "
                "(a pickle can run arbitrary code; convert trusted files to the project's cache instead)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"refusing to load {self._where}: persistent ids are not allowed, only numpy arrays")


def load_pickled_array(path: str | os.PathLike, *, max_bytes: int = MAX_PICKLE_BYTES) -> np.ndarray:
    """Load ``path``, a pickle of one plain numpy array, without running code named by the file.

    Raises :class:`UnsafePickleError` when the file refers to anything but numpy's array machinery, holds anything
    but a non-object ``numpy.ndarray``, or asks for an array larger than the file itself (checked before anything is
    allocated: a 60-byte file cannot make it allocate 100 GB); :class:`PickleReadError` when it is unreadable,
    truncated, or larger than ``max_bytes`` (not read at all).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise PickleReadError(
                f"{path} is {_size(size)}; a sequence pickle is expected to be at most {_size(max_bytes)} (not read)"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise PickleReadError(f"cannot read {path}: {exc}") from exc
    try:
        obj = _ArrayOnlyUnpickler(io.BytesIO(data), str(path), len(data)).load()
        if isinstance(obj, _PendingArray):
            obj = obj.result()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise PickleReadError(f"{path} is not a readable numpy array pickle ({type(exc).__name__}: {exc})") from exc
    except (MemoryError, OverflowError, RecursionError) as exc:  # not expected after the checks; never a traceback
        raise PickleReadError(f"{path} is not a readable numpy array pickle ({type(exc).__name__}: {exc})") from exc
    if type(obj) is not np.ndarray:
        raise UnsafePickleError(f"{path} holds a {type(obj).__name__}; only a numpy array is accepted")
    if obj.dtype.hasobject:
        raise UnsafePickleError(f"{path} holds an object array; only plain numeric arrays are accepted")
    return obj


__all__ = ["MAX_PICKLE_BYTES", "PickleReadError", "UnsafePickleError", "load_pickled_array"]
