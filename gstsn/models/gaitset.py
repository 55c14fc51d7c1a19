"""GaitSet (Chao et al., AAAI 2019), faithful to the paper's code: the spatial half of the model family.

Frame-level trunk (set1..set6, bias-free convs + leaky ReLU 0.01, no BatchNorm), Set Pooling at three points, the
Multilayer Global Pipeline (MGP) and Horizontal Pyramid Mapping (mean + max strips, separate per-part FC).
Parameter count at paper scale: 2,594,592.
"""

from __future__ import annotations

import torch
from torch import nn

from gstsn.config import ModelConfig
from gstsn.models.layers import ConvLReLU, HorizontalPyramidPooling, SeparateFC, set_pooling


class GaitSetSpatial(nn.Module):
    """GaitSet's set and MGP features.

    ``forward(frames (T, 1, h, w), seq_lens)`` → ``(parts (n, 2·sum(bins), d), set6 frame maps (T, c3, h/4, w/4))``.
    The set6 frame maps are what GSTSN's temporal branch reads.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c1, c2, c3 = cfg.channels
        self.set1 = ConvLReLU(1, c1, 5)
        self.set2 = ConvLReLU(c1, c1, 3)
        self.set3 = ConvLReLU(c1, c2, 3)
        self.set4 = ConvLReLU(c2, c2, 3)
        self.set5 = ConvLReLU(c2, c3, 3)
        self.set6 = ConvLReLU(c3, c3, 3)
        self.mgp1 = ConvLReLU(c1, c2, 3)
        self.mgp2 = ConvLReLU(c2, c2, 3)
        self.mgp3 = ConvLReLU(c2, c3, 3)
        self.mgp4 = ConvLReLU(c3, c3, 3)
        self.pool = nn.MaxPool2d(2)
        self.hpm = HorizontalPyramidPooling(cfg.hpm_bins)
        self.fc = SeparateFC(2 * cfg.parts_per_map, c3, cfg.embed_dim)
        for m in self.modules():  # GaitSet's own init: xavier-uniform conv weights
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)

    def forward(self, frames: torch.Tensor, seq_lens: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool(self.set2(self.set1(frames)))  # (T, c1, h/2, w/2)
        g = self.pool(self.mgp2(self.mgp1(set_pooling(x, seq_lens))))  # (n, c2, h/4, w/4)
        x = self.pool(self.set4(self.set3(x)))  # (T, c2, h/4, w/4)
        g = self.mgp4(self.mgp3(g + set_pooling(x, seq_lens)))  # (n, c3, h/4, w/4)
        frame_maps = self.set6(self.set5(x))  # (T, c3, h/4, w/4)
        x = set_pooling(frame_maps, seq_lens)  # (n, c3, h/4, w/4)
        g = g + x
        parts = torch.cat([self.hpm(x), self.hpm(g)], dim=-1)  # (n, c3, 2·sum(bins)): set parts, then MGP parts
        return self.fc(parts), frame_maps
