"""A 1-D temporal convolution over the IDR features, registered as the temporal module ``tconv``.

Why this one: it captures short-range motion between neighbouring frames, as GaitPart's micro-motion capture module
does, where the LSTM models the whole sequence in order; a 3-frame window costs a fraction of the LSTM's compute and
runs every frame at once instead of one step after another, so it separates "does modelling order help" from "does
the LSTM help".

Each feature-map row of each sequence is a signal over frames with ``c`` channels; a bias-free ``Conv1d(c, c, 3)``
(replicate padding, so the first and last frames see copies of themselves) and leaky ReLU give its local motion,
added to the IDR features (a residual): ``(n, s, h, c)`` → ``(n, s, h, c)``. In a ragged batch the padded frames are
copies of each sequence's last frame, exactly what replicate padding gives that sequence alone, so a sequence's
output does not depend on its batch; temporal pooling ignores the padded frames.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gstsn.config import ModelConfig
from gstsn.models.layers import LEAKY_SLOPE


class TemporalConv(nn.Module):
    """1-D temporal convolution over frames (GaitPart-style micro-motion), residual."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c = cfg.channels[2]
        self.conv = nn.Conv1d(c, c, kernel_size=3, padding=1, padding_mode="replicate", bias=False)

    def forward(self, seqs: torch.Tensor, seq_lens: list[int], mask: torch.Tensor | None) -> torch.Tensor:
        n, s, h, c = seqs.shape
        x = seqs.permute(0, 2, 3, 1).reshape(n * h, c, s)  # each row of each sequence: c channels over s frames
        x = x + F.leaky_relu(self.conv(x), LEAKY_SLOPE)
        return x.reshape(n, h, c, s).permute(0, 3, 1, 2)
