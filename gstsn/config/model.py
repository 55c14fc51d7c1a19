"""The models area's configuration: :class:`ModelConfig` (the family member and its ablation axes) and
:class:`InputConfig` (frame size and downsampling)."""

from __future__ import annotations

from dataclasses import dataclass

from gstsn.config.checks import fail_field
from gstsn.config.registry import IDR_STATISTICS, TEMPORAL_MODULES
from gstsn.config.vocabulary import LSTM_LAYER_CHOICES, model_name


def parse_idr_stat(value: str) -> tuple[str, ...]:
    """Split an IDR statistic such as ``"max+median"`` into its terms, validating each one against the registry
    (:data:`~gstsn.config.registry.IDR_STATISTICS`). The terms of a sum come back in alphabetical order, the one
    spelling of each sum (``"median + max"`` → ``("max", "median")``): a sum does not depend on the order of its terms.
    """
    names = IDR_STATISTICS.names
    if not isinstance(value, str) or not value:
        fail_field("ModelConfig", "idr_stat", value, f"one of {names} or a '+'-joined sum such as 'max+median'")
    terms = tuple(t.strip() for t in value.split("+"))
    bad = [t for t in terms if t not in IDR_STATISTICS]
    if bad:
        fail_field(
            "ModelConfig",
            "idr_stat",
            value,
            f"one of {names} or a '+'-joined sum of them such as 'max+median' (unknown term(s): {bad})",
        )
    if len(set(terms)) != len(terms):
        fail_field("ModelConfig", "idr_stat", value, "each statistic at most once in a sum")
    return tuple(sorted(terms))


@dataclass(frozen=True)
class ModelConfig:
    """The GaitSet / GSTSN family. ``temporal=False`` is GaitSet exactly; ``temporal=True`` is GSTSN (our reading).

    - ``temporal``: GSTSN's temporal branch (IDR + temporal module + temporal pooling + its own HPM/FC) on or off.
    - ``idr_stat``: the Image Dimensionality Reduction statistic over the width of each set6 frame map:
      ``median`` (the paper's choice), ``max``, ``min``, ``mean`` or a ``+``-joined sum such as ``max+median``
      (:data:`~gstsn.config.registry.IDR_STATISTICS`).
    - ``temporal_module``: what runs over the IDR features of each row before temporal pooling: ``lstm`` (the
      paper's), ``none`` or another registered module (:data:`~gstsn.config.registry.TEMPORAL_MODULES`).
    - ``lstm_layers``: the LSTM's depth: 0 (IDR features straight to temporal pooling), 1 or 2 (the paper).
    - ``channels``: the trunk widths (32, 64, 128) at paper scale; small profiles scale them.
    - ``hpm_bins``: Horizontal Pyramid Mapping strip counts; each must divide the final feature-map height.
    - ``embed_dim``: output size of each part's FC (256 in the paper).
    """

    temporal: bool = True
    idr_stat: str = "median"
    lstm_layers: int = 2
    channels: tuple[int, int, int] = (32, 64, 128)
    hpm_bins: tuple[int, ...] = (1, 2, 4, 8, 16)
    embed_dim: int = 256
    temporal_module: str = "lstm"  # added last: a run id hashes it only when set to another module (HASHED_WHEN_SET)

    def __post_init__(self) -> None:
        if not isinstance(self.temporal, bool):
            fail_field("ModelConfig", "temporal", self.temporal, "true or false")
        # one spelling per value, so that equal configs hash equal: "max + median" is stored as "max+median"
        terms = parse_idr_stat(self.idr_stat)  # parsed once: the canonical string and its typed terms
        object.__setattr__(self, "idr_stat", "+".join(terms))
        object.__setattr__(self, "_idr_terms", terms)
        if self.temporal_module not in TEMPORAL_MODULES:
            fail_field("ModelConfig", "temporal_module", self.temporal_module, f"one of {TEMPORAL_MODULES.names}")
        # an integer field takes integers only: 2.0 == 2 would pass a membership test and then crash nn.LSTM
        lstm = self.lstm_layers
        if isinstance(lstm, bool) or not isinstance(lstm, int) or lstm not in LSTM_LAYER_CHOICES:
            fail_field("ModelConfig", "lstm_layers", lstm, f"an integer, one of {LSTM_LAYER_CHOICES}")
        channels = tuple(self.channels) if isinstance(self.channels, (list, tuple)) else self.channels
        if (
            not isinstance(channels, tuple)
            or len(channels) != 3
            or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in channels)
        ):
            fail_field("ModelConfig", "channels", self.channels, "three positive integers, e.g. (32, 64, 128)")
        object.__setattr__(self, "channels", channels)
        bins = tuple(self.hpm_bins) if isinstance(self.hpm_bins, (list, tuple)) else self.hpm_bins
        if (
            not isinstance(bins, tuple)
            or not bins
            or not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in bins)
            or len(set(bins)) != len(bins)
        ):
            fail_field("ModelConfig", "hpm_bins", self.hpm_bins, "distinct positive integers, e.g. (1, 2, 4, 8, 16)")
        object.__setattr__(self, "hpm_bins", bins)
        if isinstance(self.embed_dim, bool) or not isinstance(self.embed_dim, int) or self.embed_dim <= 0:
            fail_field("ModelConfig", "embed_dim", self.embed_dim, "a positive integer, e.g. 256")

    @property
    def idr_terms(self) -> tuple[str, ...]:
        """The statistics summed by IDR, in order (``"max+median"`` → ``("max", "median")``), parsed once."""
        return self._idr_terms

    @property
    def parts_per_map(self) -> int:
        """Strips one feature map gives under HPM (31 for bins 1+2+4+8+16)."""
        return sum(self.hpm_bins)

    @property
    def num_parts(self) -> int:
        """Parts in the output: 2 maps (set, MGP) for GaitSet, plus the temporal map for GSTSN (62 / 93)."""
        return self.parts_per_map * (3 if self.temporal else 2)

    @property
    def model_name(self) -> str:
        return model_name(self.temporal)


@dataclass(frozen=True)
class InputConfig:
    """Silhouette input shape seen by the model.

    ``height``/``width`` are the stored frame size (64×44 at paper scale); ``downsample`` average-pools the frames by
    that factor before the model (2 → 32×22, the CPU profiles' reading of the spec's reduced reference).
    """

    height: int = 64
    width: int = 44
    downsample: int = 1

    def __post_init__(self) -> None:
        for name in ("height", "width", "downsample"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                fail_field("InputConfig", name, v, "a positive integer")
        if self.height % self.downsample or self.width % self.downsample:
            fail_field("InputConfig", "downsample", self.downsample, "a factor that divides height and width")

    @property
    def model_hw(self) -> tuple[int, int]:
        return self.height // self.downsample, self.width // self.downsample


def trunk_output_height(input_cfg: InputConfig) -> int:
    """Height of the final feature map: the model input height after the trunk's two 2×2 max-pools."""
    return input_cfg.model_hw[0] // 4


__all__ = [
    "InputConfig",
    "ModelConfig",
    "parse_idr_stat",
    "trunk_output_height",
]
