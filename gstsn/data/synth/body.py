"""The walker's body as 3-D capsules (plus a coat skirt), built from a :class:`Pose`, the subject's body traits and the
sequence's covariates (bag, coat).

Capsule slots are fixed so every frame has the same layout: a slot that a frame does not use (the bag outside ``bg``)
gets a negative radius, which the renderer treats as absent.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from gstsn.data.synth.kinematics import FOOT_RADIUS, NECK_TOP, Pose
from gstsn.data.synth.traits import BAG_BACKPACK, BAG_HAND, BAG_NONE, BAG_SHOULDER, SequenceParams, SubjectTraits

CAPSULE_NAMES = (
    "head",
    "neck",
    "trunk_r",
    "trunk_c",
    "trunk_l",
    "pelvis",
    "thigh_r",
    "thigh_l",
    "shank_r",
    "shank_l",
    "foot_r",
    "foot_l",
    "upper_arm_r",
    "upper_arm_l",
    "forearm_r",
    "forearm_l",
    "bag_a",
    "bag_b",
)


@dataclass(frozen=True)
class Body:
    """Renderable body of N frames.

    - ``a``, ``b``: (N, P, 3) capsule segment ends (metres, world), P = len(CAPSULE_NAMES);
    - ``r``: (N, P) capsule radii (metres; negative = slot unused in that frame);
    - ``coat``: (N,) bool, frames that draw the coat skirt;
    - ``waist``: (N, 4, 3) points spanning the skirt's top edge; ``hem``: (N, 2, 3) the hem's centre on each leg;
    - ``hem_r``: (N,) the hem's half-width around each leg (metres).
    """

    a: np.ndarray
    b: np.ndarray
    r: np.ndarray
    coat: np.ndarray
    waist: np.ndarray
    hem: np.ndarray
    hem_r: np.ndarray

    def take(self, sl: slice) -> Body:
        """The frames ``sl`` of this body."""
        return Body(*(getattr(self, f.name)[sl] for f in dataclasses.fields(self)))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def build_body(pose: Pose, traits: SubjectTraits, seqp: SequenceParams, seq: np.ndarray) -> Body:
    """Capsules for every frame; ``seq`` (N,) maps each frame to its sequence in ``seqp``."""
    bt = traits.body
    n = len(seq)
    H = bt["height_m"]
    build = bt["build"]
    c_trunk = seqp.coat_trunk[seq][:, None]
    c_limb = seqp.coat_limb[seq]
    c_add = seqp.coat_add[seq][:, None] * H
    z = np.array([0.0, 0.0, 1.0])
    P = len(CAPSULE_NAMES)
    a = np.zeros((n, P, 3))
    b = np.zeros((n, P, 3))
    r = np.zeros((n, P))

    def put(name: str, start: np.ndarray, end: np.ndarray, radius: np.ndarray | float) -> None:
        i = CAPSULE_NAMES.index(name)
        a[:, i], b[:, i], r[:, i] = start, end, radius

    # Head and neck.
    r_head = bt["head_r"] * H * build**0.3
    chin = pose.shoulder_c + (NECK_TOP - bt["shoulder_frac"]) * H * pose.head_axis
    nose = 0.012 * H * pose.fwd
    put("head", chin + r_head * pose.head_axis + nose, chin + (bt["head_frac"] * H - r_head) * pose.head_axis, r_head)
    collar = np.where(seqp.coat[seq] > 0, 1.3, 1.0)
    put("neck", pose.shoulder_c - 0.02 * H * pose.trunk_axis, chin + 0.02 * H * pose.head_axis, 0.028 * H * collar)

    # Trunk: three capsules side by side (frontal width = shoulders / hips, side width = trunk depth).
    r_trunk = bt["trunk_r"] * H * build * c_trunk  # (N, 1)
    half_bottom = bt["hip_half"] * H * build + c_add
    half_top = (bt["shoulder_half"] - bt["arm_r"] * build) * H + c_add
    off_bottom = np.maximum(half_bottom - r_trunk, 0.005 * H)
    off_top = np.maximum(half_top - r_trunk, 0.005 * H)
    bottom = pose.pelvis + 0.03 * H * pose.trunk_axis
    top = pose.shoulder_c - 0.035 * H * pose.trunk_axis
    belly = bt["belly"] * H * pose.fwd
    put("trunk_c", bottom + belly, top, r_trunk[:, 0])
    for side, name in ((-1.0, "trunk_r"), (1.0, "trunk_l")):
        put(name, bottom + side * off_bottom * pose.lat_pelvis, top + side * off_top * pose.lat_thorax, r_trunk[:, 0])

    # Legs and feet.
    r_thigh = bt["thigh_r"] * H * build * c_limb
    put("pelvis", pose.hip_r, pose.hip_l, 1.1 * r_thigh)
    for s in "rl":
        put(f"thigh_{s}", getattr(pose, f"hip_{s}"), getattr(pose, f"knee_{s}"), r_thigh)
        put(f"shank_{s}", getattr(pose, f"knee_{s}"), getattr(pose, f"ankle_{s}"), bt["shank_r"] * H * build)
        put(f"foot_{s}", getattr(pose, f"heel_{s}"), getattr(pose, f"toe_{s}"), FOOT_RADIUS * H)
        put(
            f"upper_arm_{s}",
            getattr(pose, f"shoulder_{s}"),
            getattr(pose, f"elbow_{s}"),
            bt["arm_r"] * H * build * c_limb,
        )
        r_fore = 0.85 * bt["arm_r"] * H * build * c_limb**0.7
        put(f"forearm_{s}", getattr(pose, f"elbow_{s}"), getattr(pose, f"hand_{s}"), r_fore)

    _put_bag(put, pose, seqp, seq, r_trunk[:, 0], bt["hip_half"] * H * build, z)

    # Coat skirt: from the waist (trunk girth) to the hem on each leg.
    coat = seqp.coat[seq] > 0
    waist_c = pose.pelvis + 0.04 * H * pose.trunk_axis
    waist_lat = (half_bottom + 0.5 * c_add) * pose.lat_pelvis
    waist_fwd = r_trunk * pose.fwd
    waist = np.stack([waist_c + sl * waist_lat + sf * waist_fwd for sl in (-1, 1) for sf in (-1, 1)], axis=1)
    hem_frac = seqp.hem_frac[seq][:, None]
    thigh_len = np.linalg.norm(pose.knee_r - pose.hip_r, axis=-1, keepdims=True)
    hems = []
    for s in "rl":
        hip, knee, ankle = (getattr(pose, f"{k}_{s}") for k in ("hip", "knee", "ankle"))
        on_thigh = hip + np.minimum(hem_frac, 1.0) * (knee - hip)
        below = knee + np.maximum(hem_frac - 1.0, 0.0) * thigh_len * _unit(ankle - knee)
        hems.append(np.where(hem_frac <= 1.0, on_thigh, below))
    hem_r = r_thigh + seqp.flare[seq] * H
    return Body(a=a, b=b, r=r, coat=coat, waist=waist, hem=np.stack(hems, axis=1), hem_r=hem_r)


def _put_bag(put, pose: Pose, seqp: SequenceParams, seq: np.ndarray, r_trunk: np.ndarray, hip_w: float, z) -> None:
    """The bag as two parallel capsules: ``bag_d`` thick, ``bag_w`` wide, ``bag_h`` tall."""
    kind = seqp.bag[seq]
    side = seqp.bag_side[seq][:, None]
    w, h, d = (getattr(seqp, k)[seq][:, None] for k in ("bag_w", "bag_h", "bag_d"))
    drop, shift = seqp.bag_drop[seq][:, None], seqp.bag_shift[seq][:, None]
    rb = d / 2
    half_len = np.maximum(h / 2 - rb, 0.01)
    half_w = np.maximum(w / 2 - rb, 0.0)
    swing = 0.03 * np.sin(2 * np.pi * pose.phase)[:, None] * pose.fwd  # pendulum of a hanging bag
    zz = np.broadcast_to(z, pose.fwd.shape)
    hand = np.where(side > 0, pose.hand_l, pose.hand_r)

    centre = np.zeros_like(pose.pelvis)
    vertical = zz.copy()
    width_dir = pose.fwd.copy()
    bp = (kind == BAG_BACKPACK)[:, None]
    sb = (kind == BAG_SHOULDER)[:, None]
    hb = (kind == BAG_HAND)[:, None]
    centre = np.where(
        bp, pose.shoulder_c - (h / 2 + 0.02 + drop) * pose.trunk_axis - (r_trunk[:, None] + rb) * pose.fwd, centre
    )
    vertical = np.where(bp, pose.trunk_axis, vertical)
    width_dir = np.where(bp, pose.lat_thorax, width_dir)
    centre = np.where(
        sb, pose.pelvis + side * (hip_w + rb) * pose.lat_pelvis + drop * zz + shift * pose.fwd + swing, centre
    )
    centre = np.where(hb, hand - (h / 2 + 0.02) * zz + shift * pose.fwd + side * 0.02 * pose.lat_pelvis, centre)
    radius = np.where(kind == BAG_NONE, -1.0, rb[:, 0])
    for sgn, name in ((-1.0, "bag_a"), (1.0, "bag_b")):
        mid = centre + sgn * half_w * width_dir
        put(name, mid - half_len * vertical, mid + half_len * vertical, radius)
