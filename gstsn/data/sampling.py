"""Training batches (P subjects × K sequences × ``frames`` frames) and test batches (every frame, in order).

Training (:class:`TripletSampler`), all randomness drawn from the ``numpy.random.Generator`` it is given:

- P distinct subjects per batch, uniformly among the subjects that have at least one non-empty sequence.
- K sequences per subject, without replacement when the subject has at least K usable sequences, with replacement
  otherwise (so a subject with 3 sequences still fills its K slots; the repeats get different frames).
- Sequences with no frames are never sampled.
- ``input_type="set"``: ``frames`` random frames in random order, without replacement when the sequence has at least
  ``frames`` frames, with replacement otherwise.
- ``input_type="sequence"``: a contiguous clip of ``frames`` frames in order from a random start; a shorter sequence is
  looped (frame ``L-1`` is followed by frame 0), never padded with blank frames.

``state_dict()`` holds the generator state and the batch count; loading it into a sampler built the same way resumes
the exact same batch stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from gstsn.config import INPUT_TYPES
from gstsn.data.cache import SilhouetteCache

STATE_VERSION = 1


class SamplingError(ValueError):
    """Sampler arguments or a saved sampler state are invalid; the message names the field and what is allowed."""


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SamplingError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _to_plain(obj: Any) -> Any:
    """Generator state -> ints, strs, lists, dicts only (numpy arrays become {'ndarray': [...], 'dtype': ...})."""
    if isinstance(obj, dict):
        return {str(k): _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return {"ndarray": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    return obj


def _from_plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"ndarray", "dtype"}:
            return np.asarray(obj["ndarray"], dtype=obj["dtype"])
        return {k: _from_plain(v) for k, v in obj.items()}
    return obj


def _brief(value: Any) -> str:
    return f"{len(value)} subjects {value[:3]}..." if isinstance(value, list) else repr(value)


class TripletSampler:
    """P×K batches of frames for triplet training, drawn from ``cache`` restricted to ``subjects``.

    ``next_batch()`` -> ``(sils, labels)``: ``sils`` uint8 ``(p*k, frames, H, W)`` in {0, 1}, grouped by subject
    (rows ``i*k .. i*k+k-1`` share a subject); ``labels`` int64 ``(p*k,)`` are the integer subject ids (``"007"`` -> 7).
    """

    def __init__(
        self,
        cache: SilhouetteCache,
        subjects: Iterable[str],
        p: int,
        k: int,
        frames: int,
        input_type: str,
        rng: np.random.Generator,
    ) -> None:
        self.p = _positive_int("p", p)
        self.k = _positive_int("k", k)
        self.n_frames = _positive_int("frames", frames)
        if input_type not in INPUT_TYPES:
            raise SamplingError(f"input_type {input_type!r} is invalid; expected one of {list(INPUT_TYPES)}")
        if not isinstance(rng, np.random.Generator):
            raise SamplingError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
        self.input_type = input_type
        self.cache = cache
        self.rng = rng
        wanted = sorted(set(subjects))
        unknown = sorted(set(wanted) - set(cache.index["subject"]))
        if unknown:
            raise SamplingError(f"subjects {unknown[:10]} are not in {cache.path} ({len(unknown)} unknown)")
        subj_col = cache.index["subject"].to_numpy()
        usable = cache.lengths >= 1
        self.subjects: list[str] = []
        self.dropped_subjects: list[str] = []
        self._rows: list[np.ndarray] = []
        for s in wanted:
            rows = np.flatnonzero((subj_col == s) & usable).astype(np.int64)
            if rows.size:
                self._rows.append(rows)
                self.subjects.append(s)
            else:
                self.dropped_subjects.append(s)
        if len(self.subjects) < self.p:
            raise SamplingError(
                f"p={self.p} subjects per batch, but only {len(self.subjects)} of the {len(wanted)} requested subjects "
                f"have a non-empty sequence in {cache.path}"
            )
        self._labels = np.array([int(s) for s in self.subjects], dtype=np.int64)
        self.batches_drawn = 0

    def _frame_offsets(self, length: int) -> np.ndarray:
        n, rng = self.n_frames, self.rng
        if self.input_type == "set":
            return rng.choice(length, size=n, replace=False) if length >= n else rng.integers(0, length, size=n)
        if length >= n:
            return int(rng.integers(0, length - n + 1)) + np.arange(n)
        return (int(rng.integers(0, length)) + np.arange(n)) % length

    def sample_indices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw one batch's indices: ``rows`` int64 ``(p*k,)``, global ``frame_ids`` int64 ``(p*k, frames)``, labels."""
        rng = self.rng
        chosen = rng.choice(len(self.subjects), size=self.p, replace=False)
        rows = np.empty(self.p * self.k, dtype=np.int64)
        for j, s in enumerate(chosen):
            cand = self._rows[s]
            rows[j * self.k : (j + 1) * self.k] = cand[rng.choice(cand.size, size=self.k, replace=cand.size < self.k)]
        starts, lengths = self.cache.starts, self.cache.lengths
        frame_ids = np.empty((rows.size, self.n_frames), dtype=np.int64)
        for j, r in enumerate(rows):
            frame_ids[j] = starts[r] + self._frame_offsets(int(lengths[r]))
        self.batches_drawn += 1
        return rows, frame_ids, np.repeat(self._labels[chosen], self.k)

    def next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """``(sils uint8 (p*k, frames, H, W) in {0, 1}, labels int64 (p*k,))``; one vectorised unpack per batch."""
        _, frame_ids, labels = self.sample_indices()
        sils = self.cache.frames(frame_ids.reshape(-1))
        return sils.reshape(frame_ids.shape[0], self.n_frames, self.cache.height, self.cache.width), labels

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        while True:
            yield self.next_batch()

    def _config(self) -> dict[str, Any]:
        return {
            "p": self.p,
            "k": self.k,
            "frames": self.n_frames,
            "input_type": self.input_type,
            "subjects": list(self.subjects),
            "fingerprint": self.cache.fingerprint,
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume the batch stream: ints, strs, lists and dicts only (JSON / torch-safe)."""
        return {
            "version": STATE_VERSION,
            "batches_drawn": self.batches_drawn,
            "rng": _to_plain(self.rng.bit_generator.state),
            "config": self._config(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` from a sampler built with the same cache, subjects, p, k, frames, input type."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise SamplingError(f"not a TripletSampler state (version {STATE_VERSION}); got {type(state).__name__}")
        saved, mine = state.get("config", {}), self._config()
        for key, value in mine.items():
            if saved.get(key) != value:
                raise SamplingError(
                    f"sampler state was saved with {key}={_brief(saved.get(key))}, this sampler has {_brief(value)}"
                )
        rng_state = _from_plain(state["rng"])
        if rng_state.get("bit_generator") != type(self.rng.bit_generator).__name__:
            raise SamplingError(
                f"sampler state uses bit generator {rng_state.get('bit_generator')!r}; this sampler's rng is "
                f"{type(self.rng.bit_generator).__name__}"
            )
        self.rng.bit_generator.state = rng_state
        self.batches_drawn = int(state["batches_drawn"])


def iter_test_batches(
    cache: SilhouetteCache, rows: Sequence[int] | np.ndarray, max_frames: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every frame of each listed sequence, in order, packed back to back in batches of at most ``max_frames`` frames.

    Yields ``(frames uint8 (T_total, H, W) in {0, 1}, seq_lens int64 (n,), rows int64 (n,))`` with
    ``T_total == seq_lens.sum()``; sequences keep the order of ``rows``. A sequence longer than ``max_frames`` comes
    alone in its own batch (it is never cut). Rows with no frames are left out of every batch: compare the yielded
    ``rows`` with the requested ones to find them.
    """
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    max_frames = _positive_int("max_frames", max_frames)
    if rows.size and (rows.min() < 0 or rows.max() >= len(cache)):
        raise SamplingError(f"rows must be in [0, {len(cache)}) for {cache.path}; got {rows.min()}..{rows.max()}")
    starts, lengths = cache.starts, cache.lengths
    batch: list[int] = []
    total = 0

    def flush() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        b = np.array(batch, dtype=np.int64)
        lens = lengths[b]
        ids = np.concatenate([np.arange(starts[r], starts[r] + lengths[r]) for r in b])
        return cache.frames(ids), lens.astype(np.int64), b

    for r in rows:
        n = int(lengths[r])
        if n == 0:
            continue
        if batch and total + n > max_frames:
            yield flush()
            batch, total = [], 0
        batch.append(int(r))
        total += n
    if batch:
        yield flush()


__all__ = ["SamplingError", "TripletSampler", "iter_test_batches"]
