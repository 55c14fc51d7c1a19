"""The GaitSet / GSTSN model family: ``build_model(cfg)`` and input preparation.

``ModelConfig.temporal`` picks the member: False is GaitSet exactly, True is GSTSN (our reading of the paper).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gstsn.config import InputConfig, ModelConfig
from gstsn.config.registry import family_member
from gstsn.models.gstsn import GaitSetFamily


def build_model(cfg: ModelConfig, channels_last: bool = True) -> torch.nn.Module:
    """Build the family member described by ``cfg`` (weights on the CPU, in fp32).

    ``channels_last`` stores the conv weights NHWC, which routes convolutions to oneDNN's fast NHWC kernels on the CPU
    (about 3x faster than NCHW here) and to tensor-core friendly kernels on CUDA. Only strides change: the weights,
    the state dict and the outputs are the same up to float rounding.
    """
    model = family_member(cfg).constructor()(cfg)  # the family's registry: gstsn.config.registry.MODEL_FAMILY
    return model.to(memory_format=torch.channels_last) if channels_last else model


def prepare_frames(frames: torch.Tensor, input_cfg: InputConfig) -> torch.Tensor:
    """uint8 silhouettes in {0, 1} ``(..., H, W)`` → float32 in [0, 1] ``(..., H/k, W/k)`` (average-pooled by k)."""
    if frames.shape[-2:] != (input_cfg.height, input_cfg.width):
        raise ValueError(
            f"frames are {tuple(frames.shape[-2:])} but the input config expects {(input_cfg.height, input_cfg.width)}"
        )
    x = frames.to(torch.float32)
    k = input_cfg.downsample
    if k > 1:
        lead = x.shape[:-2]
        x = F.avg_pool2d(x.reshape(-1, 1, *x.shape[-2:]), k).reshape(*lead, *input_cfg.model_hw)
    return x


__all__ = ["GaitSetFamily", "build_model", "prepare_frames"]
