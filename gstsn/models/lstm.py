"""The paper's temporal module (registered as ``lstm`` in :data:`gstsn.config.registry.TEMPORAL_MODULES`): an LSTM
over the frames of each sequence, one feature-map row at a time (rows folded into the batch), input = hidden = c,
``lstm_layers`` layers; 0 layers builds nothing (the IDR features go straight to temporal pooling)."""

from __future__ import annotations

import torch
from torch import nn

from gstsn.config import ModelConfig


class LSTMOverFrames(nn.LSTM):
    """``forward(seqs (n, s, h, c), seq_lens, mask)`` → ``(n, s, h, c)``; a ragged batch (``mask`` given) is packed
    so that no padded frame ever enters the recurrence. An ``nn.LSTM`` itself, so its weights keep the names they
    have always had (``temporal.lstm.weight_ih_l0``, ...)."""

    def __init__(self, cfg: ModelConfig) -> None:
        c = cfg.channels[2]
        super().__init__(c, c, num_layers=cfg.lstm_layers, batch_first=True)

    def forward(self, seqs: torch.Tensor, seq_lens: list[int], mask: torch.Tensor | None) -> torch.Tensor:
        n, s, h, c = seqs.shape
        x = seqs.transpose(1, 2).reshape(n * h, s, c)  # each row of each sequence is one LSTM sample
        # The input in the weights' dtype: under CPU bf16 autocast the features arrive in bf16 and autocast casts them
        # back for aten.lstm anyway (the same numbers), but under inference mode with FlopCounterMode (the timing
        # suite's FLOP count) the composite LSTM is given the bf16 input beside fp32 weights and raises.
        x = x.to(self.weight_ih_l0.dtype)
        if mask is not None:
            lens = torch.tensor(seq_lens).repeat_interleave(h)
            packed = nn.utils.rnn.pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
            out, _ = super().forward(packed)
            x, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=s)
        else:
            x, _ = super().forward(x)
        return x.reshape(n, h, s, c).transpose(1, 2)


def lstm_over_frames(cfg: ModelConfig) -> LSTMOverFrames | None:
    """The registry's constructor: the LSTM of ``cfg.lstm_layers`` layers, or None for 0."""
    return LSTMOverFrames(cfg) if cfg.lstm_layers else None
