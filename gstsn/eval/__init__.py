"""Evaluation: the CASIA-B rank-1 protocol (:mod:`gstsn.eval.protocol`), the gait-energy-image baseline
(:mod:`gstsn.eval.gei`) and embedding whole test sequences (:mod:`gstsn.eval.embed`)."""

from gstsn.eval.gei import GEIError, evaluate_gei, gei_features
from gstsn.eval.protocol import GALLERY_TYPES, PROBE_SETS, ProtocolError, Rank1Result, evaluate_rank1

__all__ = [
    "GALLERY_TYPES",
    "GEIError",
    "PROBE_SETS",
    "ProtocolError",
    "Rank1Result",
    "evaluate_gei",
    "evaluate_rank1",
    "gei_features",
]
