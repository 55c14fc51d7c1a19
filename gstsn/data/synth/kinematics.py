"""Joint-angle curves over the gait cycle and the walker's 3-D joint positions, vectorised over frames.

Conventions: world x is the nominal walking direction, y points to the walker's left, z up; metres. Sagittal segment
angles are measured from the downward vertical, positive forward. Hip, knee and ankle angles follow the published
normal-gait Fourier fits below (degrees, over the phase p in [0, 1) of the right leg, p = 0 at right heel strike);
the left leg runs half a cycle later, and each arm swings with the opposite leg.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gstsn.data.synth.traits import SequenceParams, SubjectTraits

# a0 and (a_k, b_k), k = 1..5, of angle(p) = a0 + sum_k a_k cos(2 pi k p) + b_k sin(2 pi k p), degrees.
HIP_COEFFS = (15.40, ((22.21, -0.63), (-2.66, -2.63), (-1.16, 1.49), (0.26, -0.07), (-0.33, 0.21)))
KNEE_COEFFS = (21.04, ((3.49, -22.56), (-18.01, 0.42), (-3.19, 3.84), (-1.02, -0.56), (-1.12, 0.44)))
ANKLE_COEFFS = (4.42, ((-5.18, 5.55), (3.96, -3.81), (-3.10, -1.55), (0.95, 1.49), (1.07, -0.47)))

ANKLE_HEIGHT = 0.039  # ankle joint above the sole, fraction of height (Winter)
FOOT_RADIUS = 0.017  # foot capsule radius / H
NECK_TOP = 0.870  # chin height / H, where the head starts


def fourier_angle(a0: float | np.ndarray, ab: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Evaluate a0 + sum_k a_k cos(2 pi k p) + b_k sin(2 pi k p).

    ``ab``: (K, 2) or per-frame (N, K, 2); ``phase``: (N,) in cycles. Returns (N,) degrees.
    """
    k = np.arange(1, ab.shape[-2] + 1)
    ang = 2.0 * np.pi * phase[:, None] * k  # (N, K)
    return a0 + (ab[..., 0] * np.cos(ang) + ab[..., 1] * np.sin(ang)).sum(axis=-1)


@dataclass(frozen=True)
class Pose:
    """World-space skeleton of N frames (each field (N, 3) metres unless stated).

    ``pelvis`` is the hip centre; ``lat_pelvis`` / ``lat_thorax`` unit vectors to the walker's left, ``fwd`` its
    forward unit vector, ``trunk_axis`` / ``head_axis`` unit vectors; per side (suffix ``_r`` / ``_l``): hip, knee,
    ankle, heel and toe (centres of the foot capsule's ends), shoulder, elbow, hand (end of the forearm + hand).
    ``phase`` (N,) is the right leg's phase in cycles; ``height`` (N,) the body height in metres.
    """

    pelvis: np.ndarray
    lat_pelvis: np.ndarray
    lat_thorax: np.ndarray
    fwd: np.ndarray
    trunk_axis: np.ndarray
    head_axis: np.ndarray
    shoulder_c: np.ndarray
    hip_r: np.ndarray
    hip_l: np.ndarray
    knee_r: np.ndarray
    knee_l: np.ndarray
    ankle_r: np.ndarray
    ankle_l: np.ndarray
    heel_r: np.ndarray
    heel_l: np.ndarray
    toe_r: np.ndarray
    toe_l: np.ndarray
    shoulder_r: np.ndarray
    shoulder_l: np.ndarray
    elbow_r: np.ndarray
    elbow_l: np.ndarray
    hand_r: np.ndarray
    hand_l: np.ndarray
    phase: np.ndarray
    height: np.ndarray


def _vec(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    return np.stack([x, y, z], axis=-1)


def _limb_dir(angle_deg: np.ndarray, abduct_deg: np.ndarray | float, side: float) -> np.ndarray:
    """Unit (N, 3) direction of a limb segment: sagittal angle from the downward vertical, tilted outwards."""
    a, b = np.deg2rad(angle_deg), np.deg2rad(abduct_deg)
    return _vec(np.sin(a) * np.cos(b), side * np.sin(b) * np.ones_like(a), -np.cos(a) * np.cos(b))


def _rot_z(v: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate (N, 3) vectors about the vertical by (N,) radians."""
    c, s = np.cos(angle), np.sin(angle)
    return _vec(c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1], v[:, 2])


def frame_layout(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sequences of the given lengths, the (N,) sequence index and (N,) frame-within-sequence of every frame."""
    seq = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.cumsum(lengths) - lengths
    return seq, np.arange(int(lengths.sum())) - starts[seq]


def walker_pose(traits: SubjectTraits, seqp: SequenceParams, fps: float) -> Pose:
    """Skeleton of every frame of one subject's sequences, concatenated in sequence order.

    The walker moves along the direction ``heading`` through the point ``path_offset`` metres to the side of the
    world origin, passing it half-way through the sequence; the lowest foot point always touches the ground.
    """
    b, m = traits.body, traits.motion
    seq, fidx = frame_layout(seqp.length)
    n = len(seq)
    H = b["height_m"]
    jit = np.concatenate(seqp.jitter, axis=0)  # (N, 11)
    t = fidx / fps
    cycle = m["cycle_s"] * seqp.cycle_scale[seq]
    phase = np.mod(seqp.phase0[seq] + t / cycle, 1.0)

    # Subject-specific Fourier coefficients: harmonics perturbed, oscillation scaled, mean offset.
    hip_ab = np.asarray(HIP_COEFFS[1]) + traits.harmonics[0]
    knee_ab = np.asarray(KNEE_COEFFS[1]) + traits.harmonics[1]
    ankle_ab = np.asarray(ANKLE_COEFFS[1]) + traits.harmonics[2]
    stride = m["stride"] * seqp.stride_scale[seq]

    thigh_len = (b["hip_frac"] - ANKLE_HEIGHT) * H * b["thigh_share"]
    shank_len = (b["hip_frac"] - ANKLE_HEIGHT) * H * (1.0 - b["thigh_share"])
    foot_len = b["foot_frac"] * H
    r_foot = FOOT_RADIUS * H
    hip_joint_half = max(b["hip_half"] - 0.9 * b["thigh_r"], 0.03) * H

    # Pelvis rotation about the vertical: the swing leg's hip leads (right hip forward at p = 0).
    yaw = np.deg2rad(m["yaw_deg"]) * np.cos(2 * np.pi * phase)
    lat_p = _vec(-np.sin(yaw), np.cos(yaw), np.zeros(n))

    legs = {}
    for side, name, off in ((-1.0, "r", 0.0), (1.0, "l", 0.5)):
        p = np.mod(phase + off, 1.0)
        j = 0 if name == "r" else 3
        hip_off = m["hip_off_deg"] - side * m["step_asym_deg"]
        hip = HIP_COEFFS[0] + hip_off + stride * fourier_angle(0.0, hip_ab, p) + jit[:, j]
        knee = KNEE_COEFFS[0] + m["knee_off_deg"] + m["knee_amp"] * fourier_angle(0.0, knee_ab, p + m["knee_phase"])
        knee = np.maximum(knee + jit[:, j + 1], -2.0)
        ankle = ANKLE_COEFFS[0] + m["ankle_amp"] * fourier_angle(0.0, ankle_ab, p + m["ankle_phase"]) + jit[:, j + 2]
        a_thigh = hip - b["pelvic_tilt_deg"]
        a_shank = a_thigh - knee
        a_foot = np.deg2rad(a_shank + 90.0 + ankle)
        hip_pos = side * hip_joint_half * lat_p
        knee_pos = hip_pos + thigh_len * _limb_dir(a_thigh, m["leg_abduct_deg"], side)
        ankle_pos = knee_pos + shank_len * _limb_dir(a_shank, m["leg_abduct_deg"], side)
        toe_out = np.full(n, side * np.deg2rad(m["toe_out_deg"] - side * m["toe_out_asym_deg"]))
        along = _rot_z(_vec(np.sin(a_foot), np.zeros(n), -np.cos(a_foot)), toe_out)
        down = _rot_z(_vec(-np.cos(a_foot), np.zeros(n), -np.sin(a_foot)), toe_out)
        sole = ankle_pos + (ANKLE_HEIGHT * H - r_foot) * down
        legs[name] = dict(
            hip=hip_pos,
            knee=knee_pos,
            ankle=ankle_pos,
            heel=sole - 0.22 * foot_len * along,
            toe=sole + (0.78 * foot_len - r_foot) * along,
        )
    lowest = np.min(np.stack([legs[s][k][:, 2] for s in "rl" for k in ("heel", "toe")]), axis=0) - r_foot
    sway = -m["sway_m"] * np.sin(2 * np.pi * phase)
    lift = _vec(np.zeros(n), sway, -lowest)  # hip centre relative to the ground point below the path

    # Trunk, head and arms.
    lean = np.deg2rad(
        b["trunk_lean_deg"] + seqp.lean_off_deg[seq] + m["lean_swing_deg"] * np.cos(4 * np.pi * phase) + jit[:, 10]
    )
    side_lean = np.deg2rad(b["side_lean_deg"])
    trunk_axis = _vec(np.sin(lean) * np.cos(side_lean), np.full(n, np.sin(side_lean)), np.cos(lean) * np.cos(side_lean))
    head_tilt = lean + np.deg2rad(b["head_lean_deg"])
    head_axis = _vec(
        np.sin(head_tilt) * np.cos(side_lean), np.full(n, np.sin(side_lean)), np.cos(head_tilt) * np.cos(side_lean)
    )
    shoulder_c = (b["shoulder_frac"] - b["hip_frac"]) * H * trunk_axis
    lat_t = _vec(np.sin(0.6 * yaw), np.cos(0.6 * yaw), np.zeros(n))  # thorax counter-rotates
    upper_arm, forearm = b["upper_arm_frac"] * H, (b["forearm_frac"] + 0.06) * H
    arms = {}
    for side, name, off, scale, j in (
        (-1.0, "r", 0.5, seqp.arm_scale_r, 6),
        (1.0, "l", 0.0, seqp.arm_scale_l, 8),
    ):
        swing = np.cos(2 * np.pi * (phase + off + m["arm_phase"]))  # +1 when this arm is forward
        amp = scale[seq] * m["arm_swing_deg"] * (1.0 + side * m["arm_asym"])
        sh_ang = m["arm_fwd_deg"] + amp * swing + jit[:, j]
        el_ang = m["elbow_deg"] + scale[seq] * m["elbow_swing_deg"] * 0.5 * (1 + swing) + jit[:, j + 1]
        sh_pos = shoulder_c + side * (b["shoulder_half"] - b["arm_r"]) * H * lat_t - 0.015 * H * trunk_axis
        sh_pos = sh_pos + np.array([0.0, 0.0, 0.5 * side * b["shoulder_tilt"] * H])
        elbow = sh_pos + upper_arm * _limb_dir(sh_ang, b["arm_abduct_deg"], side)
        hand = elbow + forearm * _limb_dir(sh_ang + np.maximum(el_ang, 0.0), b["arm_abduct_deg"], side)
        arms[name] = dict(shoulder=sh_pos, elbow=elbow, hand=hand)

    # Body frame -> world: heading rotation, then translation along the walking line.
    heading = seqp.heading[seq]
    speed = 0.80 * H * stride / cycle  # stride length ~0.8 H at normal speed
    t_mid = (seqp.length[seq] - 1) / (2.0 * fps)
    along_path = speed * (t - t_mid)
    base = _vec(
        along_path * np.cos(heading) - seqp.path_offset[seq] * np.sin(heading),
        along_path * np.sin(heading) + seqp.path_offset[seq] * np.cos(heading),
        np.zeros(n),
    )

    def place(v: np.ndarray) -> np.ndarray:
        return base + _rot_z(v + lift, heading)

    def turn(v: np.ndarray) -> np.ndarray:
        return _rot_z(v, heading)

    fwd = turn(_vec(np.ones(n), np.zeros(n), np.zeros(n)))
    return Pose(
        pelvis=place(np.zeros((n, 3))),
        lat_pelvis=turn(lat_p),
        lat_thorax=turn(lat_t),
        fwd=fwd,
        trunk_axis=turn(trunk_axis),
        head_axis=turn(head_axis),
        shoulder_c=place(shoulder_c),
        **{f"{k}_{s}": place(v) for s in "rl" for k, v in legs[s].items()},
        **{f"{k}_{s}": place(v) for s in "rl" for k, v in arms[s].items()},
        phase=phase,
        height=np.full(n, H),
    )
