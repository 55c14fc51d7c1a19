"""Per-subject traits (body shape, gait style) and per-sequence parameters (nuisances and covariates).

Every draw comes from its own ``np.random.Generator`` keyed by ``SeedSequence([seed, stream, subject, ...])``, so a
subject's traits and a sequence's parameters do not depend on how many subjects are generated or in what order.

Traits are ``mean + spread * std * z`` with ``z`` a standard normal clipped to ±2.5; ``spread`` is
:attr:`SynthConfig.body_spread` for body traits and :attr:`SynthConfig.motion_spread` for gait-style traits, which is
how ``identity_cue`` removes one or the other source of identity. ``z`` is always drawn, so changing ``identity_cue``
changes the spread of identities but not which subject is which.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gstsn.data.synth.config import SynthConfig

# Lengths and widths are fractions of body height (after D. A. Winter, Biomechanics and Motor Control of Human
# Movement: hip joint 0.530 H, shoulder 0.818 H, chin 0.870 H, upper arm 0.186 H, forearm 0.146 H, hand 0.108 H,
# foot 0.152 H, ankle 0.039 H, shoulder width 0.259 H, hip width 0.191 H); radii are capsule radii / H.
BODY_TRAITS: dict[str, tuple[float, float]] = {
    "height_m": (1.70, 0.08),
    "hip_frac": (0.530, 0.014),  # hip-joint height when standing
    "thigh_share": (0.50, 0.02),  # thigh / (thigh + shank)
    "shoulder_frac": (0.818, 0.012),  # shoulder height when standing
    "head_frac": (0.130, 0.007),  # chin to crown
    "shoulder_half": (0.118, 0.009),  # shoulder joint to mid-line
    "hip_half": (0.096, 0.008),  # half the hip width
    "build": (1.0, 0.11),  # common factor on every girth
    "trunk_r": (0.056, 0.006),  # half the trunk depth
    "belly": (0.0, 0.010),  # forward offset of the lower trunk
    "thigh_r": (0.041, 0.004),
    "shank_r": (0.028, 0.003),
    "arm_r": (0.024, 0.003),
    "head_r": (0.050, 0.003),
    "upper_arm_frac": (0.186, 0.008),
    "forearm_frac": (0.146, 0.007),
    "foot_frac": (0.152, 0.006),
    "trunk_lean_deg": (4.0, 3.0),  # forward lean of the trunk
    "head_lean_deg": (6.0, 5.0),  # extra forward tilt of neck and head
    "pelvic_tilt_deg": (8.0, 2.5),  # thigh angle = hip flexion - pelvic tilt
    "arm_abduct_deg": (6.0, 2.0),
    "shoulder_tilt": (0.0, 0.008),  # left shoulder higher than the right by this / H
    "side_lean_deg": (0.0, 1.5),  # trunk leaning to the left
}

MOTION_TRAITS: dict[str, tuple[float, float]] = {
    "cycle_s": (1.08, 0.06),  # gait cycle duration (cadence)
    "stride": (1.0, 0.09),  # scale of the hip oscillation (stride length)
    "knee_amp": (1.0, 0.10),
    "ankle_amp": (1.0, 0.15),
    "hip_off_deg": (0.0, 2.5),
    "knee_off_deg": (0.0, 3.0),
    "knee_phase": (0.0, 0.015),  # cycles
    "ankle_phase": (0.0, 0.02),
    "arm_swing_deg": (18.0, 6.0),
    "arm_fwd_deg": (-2.0, 3.0),  # mean shoulder flexion
    "arm_phase": (0.0, 0.03),
    "elbow_deg": (16.0, 6.0),
    "elbow_swing_deg": (10.0, 4.0),
    "sway_m": (0.025, 0.008),  # lateral sway of the pelvis
    "yaw_deg": (5.0, 2.0),  # pelvis rotation about the vertical
    "lean_swing_deg": (1.5, 0.8),  # trunk pitch oscillation, twice per cycle
    "toe_out_deg": (7.0, 4.0),
    "leg_abduct_deg": (1.5, 1.2),
    # Left/right asymmetries: no one walks symmetrically, and they keep view θ from equalling view 180° - θ.
    "arm_asym": (0.0, 0.12),  # arm swing: right × (1 - a), left × (1 + a)
    "step_asym_deg": (0.0, 1.5),  # hip flexion: right + s, left - s
    "toe_out_asym_deg": (0.0, 3.0),  # toe-out: right + t, left - t
}

# Per-subject perturbation (std, degrees) of the Fourier coefficients a_k, b_k of hip, knee, ankle for k = 1..5.
HARMONIC_STD = np.array([1.5, 1.0, 0.7, 0.4, 0.3])

_Z_CLIP = 2.5
STREAM_SUBJECT = 1
STREAM_SEQUENCE = 2

BAG_NONE, BAG_BACKPACK, BAG_SHOULDER, BAG_HAND = 0, 1, 2, 3


@dataclass(frozen=True)
class SubjectTraits:
    """One subject's persistent body shape and gait style.

    ``body`` and ``motion`` map the names in :data:`BODY_TRAITS` / :data:`MOTION_TRAITS` to floats; ``harmonics``
    is a (3, 5, 2) array of degrees added to the hip/knee/ankle Fourier coefficients (a_k, b_k), k = 1..5.
    """

    body: dict[str, float]
    motion: dict[str, float]
    harmonics: np.ndarray

    def body_vector(self) -> np.ndarray:
        """Body traits as a (len(BODY_TRAITS),) float64 array in table order."""
        return np.array([self.body[k] for k in BODY_TRAITS])

    def motion_vector(self) -> np.ndarray:
        """Gait-style traits plus harmonics as one float64 vector."""
        return np.concatenate([[self.motion[k] for k in MOTION_TRAITS], self.harmonics.ravel()])


def _draw(table: dict[str, tuple[float, float]], z: np.ndarray, spread: float) -> dict[str, float]:
    return {name: float(mean + spread * std * zi) for (name, (mean, std)), zi in zip(table.items(), z, strict=True)}


def subject_traits(cfg: SynthConfig, subject_index: int) -> SubjectTraits:
    """Traits of subject ``subject_index`` (0-based), scaled by the config's body / motion spreads."""
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, STREAM_SUBJECT, subject_index]))
    z_body = np.clip(rng.standard_normal(len(BODY_TRAITS)), -_Z_CLIP, _Z_CLIP)
    z_motion = np.clip(rng.standard_normal(len(MOTION_TRAITS)), -_Z_CLIP, _Z_CLIP)
    z_harm = np.clip(rng.standard_normal((3, 5, 2)), -_Z_CLIP, _Z_CLIP)
    return SubjectTraits(
        body=_draw(BODY_TRAITS, z_body, cfg.body_spread),
        motion=_draw(MOTION_TRAITS, z_motion, cfg.motion_spread),
        harmonics=cfg.motion_spread * HARMONIC_STD[None, :, None] * z_harm,
    )


def _smooth_noise(rng: np.random.Generator, length: int, channels: int) -> np.ndarray:
    """Unit-std noise (length, channels), low-passed over ~5 frames so joint jitter looks like tremor, not flicker."""
    kernel = np.array([1.0, 2.0, 3.0, 4.0, 3.0, 2.0, 1.0])
    kernel /= np.sqrt((kernel**2).sum())
    white = rng.standard_normal((length + len(kernel) - 1, channels))
    return sum(w * white[k : k + length] for k, w in enumerate(kernel))


N_JITTER = 11  # hip, knee, ankle (R, L), shoulder, elbow (R, L), trunk lean


@dataclass(frozen=True)
class SequenceParams:
    """Per-sequence draws for one subject's sequences, each field an (S,) array (``jitter``: list of (T, 11)).

    Nuisances: ``length`` (frames), ``phase0`` (start phase of the right leg, cycles), ``cycle_scale``,
    ``stride_scale``, ``arm_scale_r/l`` (arm-swing factors, damped by bags), ``lean_off_deg``, ``heading`` (rad,
    walking direction relative to the view azimuth), ``distance`` (m), ``cam_height`` (m), ``path_offset`` (m,
    lateral offset of the walking line), ``edge_bias`` (output pixels the segmentation widens the silhouette by).
    Covariates: ``bag`` (BAG_* code), ``bag_side`` (+1 left, -1 right),
    ``bag_w/h/d`` (m), ``bag_drop`` (m, vertical offset), ``bag_shift`` (m, sagittal offset); ``coat`` (0/1),
    ``coat_trunk``, ``coat_limb``, ``coat_add`` (girth factors and added width / H), ``hem_frac`` (hem below the hip,
    in thigh lengths), ``flare`` (extra hem half-width / H).
    """

    length: np.ndarray
    phase0: np.ndarray
    cycle_scale: np.ndarray
    stride_scale: np.ndarray
    arm_scale_r: np.ndarray
    arm_scale_l: np.ndarray
    lean_off_deg: np.ndarray
    heading: np.ndarray
    distance: np.ndarray
    cam_height: np.ndarray
    path_offset: np.ndarray
    edge_bias: np.ndarray
    bag: np.ndarray
    bag_side: np.ndarray
    bag_w: np.ndarray
    bag_h: np.ndarray
    bag_d: np.ndarray
    bag_drop: np.ndarray
    bag_shift: np.ndarray
    coat: np.ndarray
    coat_trunk: np.ndarray
    coat_limb: np.ndarray
    coat_add: np.ndarray
    hem_frac: np.ndarray
    flare: np.ndarray
    jitter: list[np.ndarray]


def _sequence_rng(cfg: SynthConfig, subject_index: int, type_idx: int, view_idx: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([cfg.seed, STREAM_SEQUENCE, subject_index, type_idx, view_idx]))


def _draw_length(cfg: SynthConfig, rng: np.random.Generator) -> int:
    return int(rng.integers(cfg.frames_min, cfg.frames_max + 1))  # always a sequence stream's first draw


def sequence_lengths(cfg: SynthConfig, subject_index: int, seq_keys: list[tuple[int, str]], view_keys: list[int]):
    """The (S,) int64 lengths :func:`sequence_params` will draw, without the rest of the draws (cheap)."""
    return np.array(
        [
            _draw_length(cfg, _sequence_rng(cfg, subject_index, t, v))
            for (t, _), v in zip(seq_keys, view_keys, strict=True)
        ],
        dtype=np.int64,
    )


def sequence_params(
    cfg: SynthConfig, subject_index: int, seq_keys: list[tuple[int, str]], view_keys: list[int]
) -> SequenceParams:
    """Draw the parameters of one subject's sequences.

    ``seq_keys[i]`` is (sequence-type index in SEQ_TYPES, condition "nm"/"bg"/"cl") and ``view_keys[i]`` the view
    index of sequence i; both only key the RNG and pick the covariate.
    """
    cols: dict[str, list] = {name: [] for name in SequenceParams.__dataclass_fields__}
    for (type_idx, cond), view_idx in zip(seq_keys, view_keys, strict=True):
        rng = _sequence_rng(cfg, subject_index, type_idx, view_idx)
        length = _draw_length(cfg, rng)
        row = {
            "length": length,
            "phase0": rng.random(),
            "cycle_scale": float(np.clip(1.0 + 0.03 * rng.standard_normal(), 0.9, 1.1)),
            "stride_scale": float(np.clip(1.0 + 0.03 * rng.standard_normal(), 0.9, 1.1)),
            "lean_off_deg": 1.0 * rng.standard_normal(),
            "heading": np.deg2rad(cfg.heading_jitter_deg * rng.standard_normal()),
            "distance": rng.uniform(cfg.camera_distance_min, cfg.camera_distance_max),
            "cam_height": rng.uniform(0.9, 1.3),
            "path_offset": rng.uniform(-0.3, 0.3),
            "edge_bias": 0.7 * cfg.edge_noise_px * rng.standard_normal(),
        }
        arm = np.clip(1.0 + 0.08 * rng.standard_normal(2), 0.7, 1.3)
        bag = dict(bag=BAG_NONE, bag_side=1.0, bag_w=0.0, bag_h=0.0, bag_d=0.0, bag_drop=0.0, bag_shift=0.0)
        # Always draw the covariate numbers so that the stream layout does not depend on the condition.
        u_bag = rng.random(10)
        u_coat = rng.random(6)
        if cond == "bg":
            kind = BAG_BACKPACK if u_bag[0] < 0.35 else (BAG_SHOULDER if u_bag[0] < 0.75 else BAG_HAND)
            side = 1.0 if u_bag[1] < 0.5 else -1.0
            if kind == BAG_BACKPACK:
                w, h, d = 0.28 + 0.10 * u_bag[2], 0.34 + 0.16 * u_bag[3], 0.12 + 0.10 * u_bag[4]
                drop, shift = -0.10 + 0.12 * u_bag[5], 0.0
                arm = arm * (0.6 + 0.3 * u_bag[6:8])
            elif kind == BAG_SHOULDER:
                w, h, d = 0.22 + 0.18 * u_bag[2], 0.18 + 0.17 * u_bag[3], 0.06 + 0.06 * u_bag[4]
                drop, shift = -0.05 + 0.25 * u_bag[5], -0.10 + 0.20 * u_bag[8]
                damp = 0.2 + 0.3 * u_bag[6]
                arm = arm * np.where(side > 0, [1.0, damp], [damp, 1.0]) * (0.8 + 0.2 * u_bag[7])
            else:
                w, h, d = 0.24 + 0.20 * u_bag[2], 0.18 + 0.16 * u_bag[3], 0.08 + 0.07 * u_bag[4]
                drop, shift = 0.0, -0.03 + 0.06 * u_bag[5]
                damp = 0.1 + 0.3 * u_bag[6]
                arm = arm * np.where(side > 0, [1.0, damp], [damp, 1.0])
            bag = dict(bag=kind, bag_side=side, bag_w=w, bag_h=h, bag_d=d, bag_drop=drop, bag_shift=shift)
        coat = dict(coat=0, coat_trunk=1.0, coat_limb=1.0, coat_add=0.0, hem_frac=0.0, flare=0.0)
        if cond == "cl":
            coat = dict(
                coat=1,
                coat_trunk=1.20 + 0.40 * u_coat[0],
                coat_limb=1.20 + 0.50 * u_coat[1],
                coat_add=0.010 + 0.030 * u_coat[2],
                hem_frac=0.30 + 1.10 * u_coat[3],  # from a hip-length jacket to a coat below the knee
                flare=0.050 * u_coat[4],
            )
            arm = arm * (0.6 + 0.3 * u_coat[5])  # sleeves and bulk damp the arm swing
        row.update(bag)
        row.update(coat)
        row["arm_scale_r"], row["arm_scale_l"] = float(arm[0]), float(arm[1])
        row["jitter"] = cfg.angle_jitter_deg * _smooth_noise(rng, length, N_JITTER)
        for name, value in row.items():
            cols[name].append(value)
    out = {name: (vals if name == "jitter" else np.asarray(vals)) for name, vals in cols.items()}
    return SequenceParams(**out)
