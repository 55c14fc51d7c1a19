"""Procedural CASIA-B-like gait silhouettes: the project's embedded default dataset.

``generate(SynthConfig(...))`` renders subjects × {nm-01..06, bg-01..02, cl-01..02} × 11 views (000..180) of an
articulated walker (capsule body driven by Fourier joint-angle curves), through a perspective camera and the CASIA-B
pretreatment, into the project's sequence-table schema. ``write_preview`` draws a PNG grid to look at.

Modules: ``config`` (SynthConfig, version, fingerprint), ``traits`` (per-subject and per-sequence draws),
``kinematics`` (joint angles and 3-D skeleton), ``body`` (capsules, bag, coat), ``render`` (camera, rasteriser,
pretreatment, segmentation noise), ``generate`` (the dataset), ``preview`` (PNG grid).
"""

from gstsn.data.synth.config import GENERATOR_NAME, GENERATOR_VERSION, SynthConfig, fingerprint
from gstsn.data.synth.generate import SynthDataset, generate
from gstsn.data.synth.preview import write_preview

__all__ = [
    "GENERATOR_NAME",
    "GENERATOR_VERSION",
    "SynthConfig",
    "SynthDataset",
    "fingerprint",
    "generate",
    "write_preview",
]
