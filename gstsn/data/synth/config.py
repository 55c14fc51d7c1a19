"""The synthetic generator's configuration, its version and its fingerprint.

A dataset is a pure function of (:class:`SynthConfig`, :data:`GENERATOR_VERSION`): the fingerprint hashes both, so a
cache built from one configuration is never mistaken for another, and any change to the generator's output must bump
:data:`GENERATOR_VERSION`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from gstsn.config import check_int, check_number, fail_field

GENERATOR_NAME = "gstsn.data.synth"
# Bump whenever the rendered output changes for an unchanged config (kinematics, body, camera, noise, RNG layout).
GENERATOR_VERSION = "1.2.0"

_MAX_SUBJECTS = 999  # subject ids are 3-digit strings "001".."999"


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of the procedural CASIA-B-like dataset (subjects × 10 sequence types × 11 views).

    - ``subjects``: number of subjects, named ``"001"``, ``"002"``, ... (50 by default: CPU ablations finish, and
      the GEI baseline's gallery is as large as real CASIA-B's LT test set).
    - ``frames_min`` / ``frames_max``: each sequence's length is drawn uniformly from this inclusive range. Real
      CASIA-B sequences have ~70-100 frames (mean 82); the default 40-56 (about 1.5-2 gait cycles at 25 fps)
      keeps CPU training cheap while every sequence still spans at least one full cycle.
    - ``height`` / ``width``: output frame size. Frames are height-normalised to ``height`` rows, cut to a
      ``height``-wide window centred like the CASIA-B pretreatment, then centre-cropped to ``width`` columns
      (64 → 44 is the GaitSet/OpenGait crop, columns 10..53).
    - ``identity_cue`` in [0, 1]: what tells subjects apart. 0: identical bodies, subjects differ only in motion;
      1: identical motion, subjects differ only in body shape; in between both vary (at 0.5 both at full spread;
      body spread is ``min(1, 2c)``, motion spread ``min(1, 2 - 2c)``).
    - ``fps``: frame rate (CASIA-B: 25).
    - ``camera_distance_min`` / ``camera_distance_max`` (m): per-sequence camera distance to the walking path.
    - ``heading_jitter_deg``: std of the walking direction's deviation from the nominal view azimuth.
    - ``angle_jitter_deg``: std of the smooth per-frame noise added to every joint angle.
    - ``edge_noise_px``: std of the per-row jitter of silhouette edges, in output pixels.
    - ``hole_rate``: mean number of small segmentation holes per frame.
    - ``part_dropout``: probability that a frame loses a band of a body part (a segmentation failure).
    - ``seed``: the only source of randomness; the output is bit-identical for an identical config.
    """

    subjects: int = 50
    frames_min: int = 40
    frames_max: int = 56
    height: int = 64
    width: int = 44
    identity_cue: float = 0.5
    fps: float = 25.0
    camera_distance_min: float = 4.0
    camera_distance_max: float = 6.0
    heading_jitter_deg: float = 2.0
    angle_jitter_deg: float = 1.5
    edge_noise_px: float = 0.3
    hole_rate: float = 0.5
    part_dropout: float = 0.02
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("SynthConfig", "subjects", self.subjects, 1, _MAX_SUBJECTS)
        check_int("SynthConfig", "frames_min", self.frames_min, 2, 2000)
        check_int("SynthConfig", "frames_max", self.frames_max, 2, 2000)
        if self.frames_max < self.frames_min:
            fail_field("SynthConfig", "frames_max", self.frames_max, f"an integer >= frames_min ({self.frames_min})")
        check_int("SynthConfig", "height", self.height, 16, 512)
        check_int("SynthConfig", "width", self.width, 4, 512)
        if self.width > self.height:
            fail_field(
                "SynthConfig",
                "width",
                self.width,
                f"an integer <= height ({self.height}); frames are cut from a square window",
            )
        floats = {
            "identity_cue": (0.0, 1.0),
            "fps": (1.0, 240.0),
            "camera_distance_min": (2.0, 50.0),
            "camera_distance_max": (2.0, 50.0),
            "heading_jitter_deg": (0.0, 30.0),
            "angle_jitter_deg": (0.0, 20.0),
            "edge_noise_px": (0.0, 3.0),
            "hole_rate": (0.0, 20.0),
            "part_dropout": (0.0, 1.0),
        }
        for name, (lo, hi) in floats.items():
            object.__setattr__(self, name, check_number("SynthConfig", name, getattr(self, name), lo, hi))
        if self.camera_distance_max < self.camera_distance_min:
            fail_field(
                "SynthConfig",
                "camera_distance_max",
                self.camera_distance_max,
                f"a number >= camera_distance_min ({self.camera_distance_min})",
            )
        check_int("SynthConfig", "seed", self.seed, 0, 2**63 - 1)

    @property
    def body_spread(self) -> float:
        """Scale of between-subject body-shape differences (0 at ``identity_cue`` 0)."""
        return min(1.0, 2.0 * self.identity_cue)

    @property
    def motion_spread(self) -> float:
        """Scale of between-subject gait-style differences (0 at ``identity_cue`` 1)."""
        return min(1.0, 2.0 - 2.0 * self.identity_cue)


def synth_config_to_dict(cfg: SynthConfig) -> dict[str, Any]:
    """The resolved config as a JSON-ready dict (all fields, defaults included)."""
    return dataclasses.asdict(cfg)


def fingerprint(cfg: SynthConfig) -> str:
    """Hash of the generator name, :data:`GENERATOR_VERSION` and every config value (16 hex digits)."""
    payload = {"generator": GENERATOR_NAME, "version": GENERATOR_VERSION, "config": synth_config_to_dict(cfg)}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
