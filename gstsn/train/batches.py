"""P×K training batches: drawn from a sampler, optionally ahead in a background thread (pinned on CUDA), with the
sampler and RNG state right after each batch (what a checkpoint must store for a bit-identical resume)."""

from __future__ import annotations

import copy
import queue
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass
class Batch:
    """One global P×K batch and the sampler / RNG state right after drawing it (what a checkpoint must store)."""

    sils: torch.Tensor | None  # uint8 (P·K, frames, H, W), pinned on CUDA; None when only frame ids are drawn
    labels: torch.Tensor  # int64 (P·K,)
    sampler_state: dict[str, Any]
    np_rng_state: dict[str, Any]
    frame_ids: torch.Tensor | None = None  # int64 (P·K, frames) global frame ids, when the frames are on the device


class BatchStream:
    """Draws batches from a sampler, optionally ``prefetch`` ahead in a background thread.

    The batches (and the recorded states) are exactly those of drawing synchronously: only one thread ever touches the
    sampler and its generator. ``ids_only``: draw the frame ids (``sampler.sample_indices()``, which advances the
    sampler exactly as ``next_batch()`` does) and leave the pixels to a :class:`DeviceFrames` on the device.
    """

    def __init__(
        self, sampler: Any, rng: np.random.Generator, prefetch: int, pin_memory: bool, ids_only: bool = False
    ) -> None:
        self._sampler = sampler
        self._rng = rng
        self._pin = pin_memory
        self._ids_only = ids_only
        self._prefetch = prefetch
        self._queue: queue.Queue[Batch | BaseException] = queue.Queue(maxsize=max(prefetch, 1))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if prefetch > 0:
            self._thread = threading.Thread(target=self._worker, name="gstsn-prefetch", daemon=True)
            self._thread.start()

    def _draw(self) -> Batch:
        if self._ids_only:
            _, ids, labels = self._sampler.sample_indices()
            sils, frame_ids = None, torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))
        else:
            frames, labels = self._sampler.next_batch()
            sils, frame_ids = torch.from_numpy(np.ascontiguousarray(frames)), None
        batch = Batch(
            sils=sils,
            labels=torch.as_tensor(labels, dtype=torch.int64),
            sampler_state=copy.deepcopy(self._sampler.state_dict()),
            np_rng_state=copy.deepcopy(self._rng.bit_generator.state),
            frame_ids=frame_ids,
        )
        if self._pin:
            if batch.sils is not None:
                batch.sils = batch.sils.pin_memory()
            if batch.frame_ids is not None:
                batch.frame_ids = batch.frame_ids.pin_memory()
        return batch

    def _worker(self) -> None:
        try:
            while not self._stop.is_set():
                item = self._draw()
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # handed to the training thread, which re-raises it
            self._queue.put(exc)

    def next(self) -> Batch:
        if self._thread is None:
            return self._draw()
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


__all__ = [
    "Batch",
    "BatchStream",
]
