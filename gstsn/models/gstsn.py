"""GSTSN: GaitSet plus a temporal branch — the project's reading of the seed paper (no code was published).

The paper adds "shallow-temporal" features from Image Dimensionality Reduction (IDR) of each frame and
"sequence-temporal" features from a 2-layer LSTM over them, all mapped by HPM. Where its text is ambiguous we follow
``shared/spec/models.md`` (our reading, stated in every report):

1. trunk, SP and MGP exactly as GaitSet (shared weights, 62 parts);
2. IDR: reduce the width of each set6 frame map ``(T, c, h, w)`` by a statistic (``idr_stat``) → ``(T, c, h)``;
3. a temporal module over the frames of each sequence, one row at a time: the paper's LSTM (``temporal_module =
   "lstm"``, ``lstm_layers`` layers, 0 = none; :mod:`gstsn.models.lstm`) or another registered one
   (:data:`gstsn.config.registry.TEMPORAL_MODULES`, ``docs/extending.md``);
4. max over frames → ``(n, c, h)``, HPM strips over the rows (mean + max), own per-part FC ``(31, c, d)``;
5. output = set parts ‖ MGP parts ‖ temporal parts → ``(n, 93, d)``.

With ``temporal=False`` the model *is* GaitSet: the same parameters (created first, so a seed gives the same spatial
weights either way) and the same outputs.
"""

from __future__ import annotations

import torch
from torch import nn

from gstsn.config import ModelConfig
from gstsn.config.registry import TEMPORAL_MODULES
from gstsn.models.gaitset import GaitSetSpatial
from gstsn.models.layers import (
    HorizontalPyramidPooling,
    ImageDimensionalityReduction,
    SeparateFC,
    frames_to_sequences,
    masked_max_over_frames,
)


class TemporalBranch(nn.Module):
    """IDR → the temporal module over frames per row → max over frames → HPM → per-part FC.

    The IDR statistics and the temporal module are looked up in the registry
    (:mod:`gstsn.config.registry`) once, here; the module sits at ``temporal.<name>`` (its profiler scope and the
    prefix of its weights). ``forward(frame_maps (T, c, h, w), seq_lens)`` → ``(n, sum(bins), d)``.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c = cfg.channels[2]
        self.idr = ImageDimensionalityReduction(cfg.idr_terms)
        entry = TEMPORAL_MODULES[cfg.temporal_module]
        build = entry.constructor()
        module = build(cfg) if build is not None else None
        self.module_name: str | None = None
        if module is not None:  # created before the FC, so a seed gives the same weights as it always did
            self.module_name = _child_name(entry.scope)
            self.add_module(self.module_name, module)
        self.hpm = HorizontalPyramidPooling(cfg.hpm_bins)
        self.fc = SeparateFC(cfg.parts_per_map, c, cfg.embed_dim)

    def forward(self, frame_maps: torch.Tensor, seq_lens: list[int]) -> torch.Tensor:
        rows = self.idr(frame_maps)  # (T, h, c)
        seqs, mask = frames_to_sequences(rows, seq_lens)  # (n, s, h, c), mask (n, s) or None
        if self.module_name is not None:
            seqs = getattr(self, self.module_name)(seqs, seq_lens, mask)
        pooled = masked_max_over_frames(seqs, mask)  # (n, h, c)
        return self.fc(self.hpm(pooled.transpose(1, 2).unsqueeze(-1)))  # HPM over rows of (n, c, h, 1)


def _child_name(scope: str | None) -> str:
    """``temporal.lstm`` → ``lstm``: a temporal module's attribute in the branch, from its registered scope."""
    parent, _, name = (scope or "").partition(".")
    if parent != "temporal" or not name.isidentifier():
        raise ValueError(f"a temporal module's scope must be 'temporal.<name>'; got {scope!r}")
    return name


class GaitSetFamily(nn.Module):
    """The GaitSet / GSTSN family, both members of :data:`gstsn.config.registry.MODEL_FAMILY`: GaitSet's spatial
    network, plus the temporal branch when ``cfg.temporal`` (GSTSN). Its weights are ``spatial.*`` and ``temporal.*``.

    ``forward(sils, seq_lens=None)``:
    - ``sils (n, s, h, w)`` float in [0, 1]; ``seq_lens (n,)`` the number of real frames at the start of each row
      (default: all ``s``), or
    - ``sils (T, h, w)`` packed frames of all sequences back to back with ``seq_lens`` required.
    Returns embeddings ``(n, num_parts, embed_dim)``: 62 parts for GaitSet, 93 for GSTSN at bins 1/2/4/8/16.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.spatial = GaitSetSpatial(cfg)
        self.temporal = TemporalBranch(cfg) if cfg.temporal else None

    def forward(self, sils: torch.Tensor, seq_lens: torch.Tensor | list[int] | None = None) -> torch.Tensor:
        frames, lens = pack_frames(sils, seq_lens)
        parts, frame_maps = self.spatial(frames.unsqueeze(1), lens)
        if self.temporal is None:
            return parts
        return torch.cat([parts, self.temporal(frame_maps, lens)], dim=1)


def pack_frames(sils: torch.Tensor, seq_lens: torch.Tensor | list[int] | None) -> tuple[torch.Tensor, list[int]]:
    """Normalise the model input to packed frames ``(T, h, w)`` and a list of per-sequence frame counts."""
    if sils.dim() == 4:
        n, s = sils.shape[:2]
        if seq_lens is None:
            return sils.reshape(n * s, *sils.shape[2:]), [s] * n
        lens = [int(v) for v in seq_lens]
        _check_lens(lens, n, max_len=s)
        if all(v == s for v in lens):
            return sils.reshape(n * s, *sils.shape[2:]), lens
        return torch.cat([sils[i, :v] for i, v in enumerate(lens)]), lens
    if sils.dim() == 3:
        if seq_lens is None:
            raise ValueError("packed input (T, h, w) needs seq_lens, the frame count of each sequence")
        lens = [int(v) for v in seq_lens]
        _check_lens(lens, len(lens), max_len=None)
        if sum(lens) != sils.shape[0]:
            raise ValueError(f"seq_lens sum to {sum(lens)} frames but the packed input holds {sils.shape[0]}")
        return sils, lens
    raise ValueError(f"silhouettes must be (n, s, h, w) or packed (T, h, w); got shape {tuple(sils.shape)}")


def _check_lens(lens: list[int], n: int, max_len: int | None) -> None:
    if len(lens) != n:
        raise ValueError(f"seq_lens has {len(lens)} entries for {n} sequences")
    if any(v < 1 for v in lens) or (max_len is not None and any(v > max_len for v in lens)):
        limit = f"1..{max_len}" if max_len is not None else ">= 1"
        raise ValueError(f"every sequence length must be {limit}; got {lens}")
