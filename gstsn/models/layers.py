"""Building blocks shared by GaitSet and GSTSN.

Shapes use: ``n`` sequences, ``T`` frames of all sequences packed back to back (``T = sum(seq_lens)``), ``s`` frames of
one sequence, ``c`` channels, ``h``×``w`` feature-map size, ``p`` parts, ``d`` embedding size.

Variable-length batches never use fake padded frames inside a statistic: the frame-level trunk runs on packed frames,
and every reduction over frames (set pooling, the temporal module, temporal pooling) sees each sequence's own frames
only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gstsn.config.registry import IDR_STATISTICS

LEAKY_SLOPE = 0.01
Statistic = Callable[[torch.Tensor, int], torch.Tensor]  # an IDR statistic: (x, dim) -> x reduced over dim


class ConvLReLU(nn.Module):
    """``Conv2d(bias=False)`` with "same" padding followed by leaky ReLU (slope 0.01); GaitSet's only conv block.

    In ``x: (B, c_in, h, w)`` → out ``(B, c_out, h, w)``.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x), LEAKY_SLOPE, inplace=True)


def frames_to_sequences(x: torch.Tensor, seq_lens: list[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """View packed frame features ``(T, *f)`` as ``(n, s_max, *f)``.

    Equal lengths cost nothing (a view) and return ``mask=None``. Unequal lengths are padded, each sequence with
    copies of its own last frame (one gather, whatever ``n``: no per-sequence copies); the boolean ``mask (n, s_max)``
    is True on real frames. Callers must make padded entries neutral for their reduction (a max or min over frames is
    already exact: the copies are real frames of the same sequence).
    """
    n = len(seq_lens)
    if n and all(length == seq_lens[0] for length in seq_lens):
        return x.view(n, seq_lens[0], *x.shape[1:]), None
    lens = torch.tensor(seq_lens, dtype=torch.int64)
    steps = torch.arange(int(lens.max()))
    idx = (torch.cumsum(lens, 0) - lens)[:, None] + torch.minimum(steps[None, :], lens[:, None] - 1)  # (n, s_max)
    mask = steps[None, :] < lens[:, None]
    if x.device.type == "cuda":  # a copy from pageable memory would make the host wait for the device
        idx, mask = idx.pin_memory(), mask.pin_memory()
    padded = x[idx.to(x.device, non_blocking=True)]
    return padded, mask.to(x.device, non_blocking=True)


def masked_max_over_frames(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Max over axis 1 of ``(n, s, *f)``; entries where ``mask (n, s)`` is False never win."""
    if mask is not None:
        fill = torch.finfo(x.dtype).min
        shape = mask.shape + (1,) * (x.dim() - 2)
        x = x.masked_fill(~mask.view(shape), fill)
    return x.amax(dim=1)


def set_pooling(frames: torch.Tensor, seq_lens: list[int]) -> torch.Tensor:
    """Set Pooling (SP): max over each sequence's own frames. ``(T, c, h, w)`` → ``(n, c, h, w)``.

    The max runs on the ``(T, h, w, c)`` view, contiguous for channels-last maps, and the result keeps channels-last
    strides: reducing the ``(n, s, c, h, w)`` view directly picks a slow iteration order (10-30× slower on the CPU,
    measured) and returns a layout the next convolution must convert. No mask is needed:
    :func:`frames_to_sequences` pads a short sequence with copies of its own frames."""
    seqs, _ = frames_to_sequences(frames.permute(0, 2, 3, 1), seq_lens)  # (n, s, h, w, c)
    return seqs.amax(dim=1).permute(0, 3, 1, 2)


class HorizontalPyramidPooling(nn.Module):
    """HPM pooling: split the height into ``b`` strips for each bin count and pool each strip by ``mean + max``.

    In ``x: (n, c, h, w)`` (use ``w = 1`` for a row profile) → out ``(n, c, sum(bins))``. Each bin count must divide
    ``h`` so that every strip holds whole rows.
    """

    def __init__(self, bins: tuple[int, ...]) -> None:
        super().__init__()
        self.bins = tuple(bins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, _ = x.shape
        strips = []
        for b in self.bins:
            if h % b:
                raise ValueError(
                    f"HPM bin count {b} does not divide the feature-map height {h}; choose hpm_bins that divide {h} "
                    "(the map height is the input height / 4)"
                )
            z = x.reshape(n, c, b, -1)
            strips.append(z.mean(-1) + z.amax(-1))
        return torch.cat(strips, dim=-1)


class SeparateFC(nn.Module):
    """A separate fully connected map per part, as one ``(p, c, d)`` parameter applied by batched matmul.

    Initialised with ``xavier_uniform_`` on the 3-D parameter, exactly as GaitSet's ``fc_bin``.
    In ``x: (n, c, p)`` → out ``(n, p, d)``.
    """

    def __init__(self, parts: int, c_in: int, c_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(nn.init.xavier_uniform_(torch.empty(parts, c_in, c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (p, n, c) @ (p, c, d) -> (p, n, d); bmm on a strided (permuted) operand is ~30x slower than on a copy
        out = torch.bmm(x.permute(2, 0, 1).contiguous(), self.weight.to(x.dtype))
        return out.permute(1, 0, 2).contiguous()


def median_over(x: torch.Tensor, dim: int) -> torch.Tensor:
    """The median over ``dim``, as ``numpy.median``: the mean of the two middle values for an even count."""
    size = x.shape[dim]
    if size % 2:
        return x.median(dim=dim).values
    ordered = x.sort(dim=dim).values
    return 0.5 * (ordered.select(dim, size // 2 - 1) + ordered.select(dim, size // 2))


def max_over(x: torch.Tensor, dim: int) -> torch.Tensor:
    return x.amax(dim=dim)


def min_over(x: torch.Tensor, dim: int) -> torch.Tensor:
    return x.amin(dim=dim)


def mean_over(x: torch.Tensor, dim: int) -> torch.Tensor:
    return x.mean(dim=dim)


def image_dimensionality_reduction(x: torch.Tensor, statistics: Sequence[Statistic]) -> torch.Tensor:
    """IDR (our reading of the GSTSN paper): reduce the width of each frame map by a statistic or a sum of several.

    In ``x: (T, c, h, w)`` → out ``(T, h, c)``: one c-vector per row of each frame, the layout the temporal module
    reads. ``statistics``: functions ``(x, dim) -> x reduced over dim``, summed. The reduction runs on the
    ``(T, h, w, c)`` view, which is contiguous for channels-last maps.
    """
    rows = x.permute(0, 2, 3, 1)
    out = statistics[0](rows, 2)
    for statistic in statistics[1:]:
        out = out + statistic(rows, 2)
    return out


class ImageDimensionalityReduction(nn.Module):
    """IDR as a module (no weights): the statistics of ``terms`` looked up once in the registry
    (:data:`~gstsn.config.registry.IDR_STATISTICS`). ``(T, c, h, w)`` → ``(T, h, c)``."""

    def __init__(self, terms: Sequence[str]) -> None:
        super().__init__()
        self.terms = tuple(terms)
        self.statistics = tuple(IDR_STATISTICS[t].constructor() for t in self.terms)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return image_dimensionality_reduction(x, self.statistics)
