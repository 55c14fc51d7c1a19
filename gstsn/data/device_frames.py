"""A cache's bit-packed frames held on a device and unpacked there, so that the host never touches pixels.

The whole real CASIA-B copy is 1,117,083 frames × 64 rows × 6 bytes = 429 MB packed: it fits on any GPU. Once it is
there, a training batch or a test batch is a gather of packed rows by frame id and one shift-and-mask, both on the
device; the host only draws frame ids (a few KB per batch). :meth:`DeviceFrames.frames` returns exactly what
:meth:`gstsn.data.cache.SilhouetteCache.frames` returns (uint8 in {0, 1}, the same layout), on the device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class DeviceFrames:
    """Packed frames ``uint8 (F, H, ceil(W/8))`` on ``device``; ``frames(ids)`` unpacks the frames ``ids`` there."""

    def __init__(self, packed: torch.Tensor, width: int) -> None:
        if packed.dtype != torch.uint8 or packed.dim() != 3 or packed.shape[2] * 8 < width or width < 1:
            raise ValueError(
                f"packed frames must be uint8 (F, H, ceil(W/8)) for width {width}; got {packed.dtype} "
                f"{tuple(packed.shape)}"
            )
        self.packed = packed
        self.height, self.width = int(packed.shape[1]), int(width)
        self.device = packed.device
        self._shifts = torch.arange(7, -1, -1, dtype=torch.uint8, device=packed.device)  # np.packbits' big bit order

    @classmethod
    def from_cache(cls, cache: Any, device: str | torch.device) -> DeviceFrames:
        """Copy ``cache.packed`` (memory-mapped or in RAM) to ``device`` once (through pinned memory to a GPU)."""
        source = np.asarray(cache.packed)
        host = torch.empty(source.shape, dtype=torch.uint8, pin_memory=torch.device(device).type == "cuda")
        host.numpy()[...] = source  # one read of the file; the tensor owns writable memory
        return cls(host.to(device), int(cache.width))

    @property
    def nbytes(self) -> int:
        return int(self.packed.numel())

    def frames(self, ids: torch.Tensor) -> torch.Tensor:
        """uint8 ``(*ids.shape, H, W)`` in {0, 1}: the frames of global frame ids ``ids`` (int64, any shape), on the
        device of the packed frames (``ids`` are moved there when they are elsewhere)."""
        if self.device.type == "cuda" and ids.device.type == "cpu" and not ids.is_pinned():
            ids = ids.pin_memory()  # a copy from pageable memory would make the host wait for the device
        ids = ids.to(self.device, non_blocking=True)
        rows = self.packed[ids.reshape(-1)]  # (N, H, PW)
        bits = (rows.unsqueeze(-1) >> self._shifts) & 1  # (N, H, PW, 8)
        out = bits.reshape(rows.shape[0], self.height, -1)[..., : self.width]
        return out.reshape(*ids.shape, self.height, self.width)


__all__ = ["DeviceFrames"]
