"""The walker's body as 3-D capsules plus upright prisms (coat skirt, bag), built from a :class:`Pose`, the subject's
body traits and the sequence's covariates.

Capsule slots are fixed so every frame has the same layout. A prism is drawn as the trapezoid between the projected
extents of its top points and of its bottom points (exact for an upright box seen by a level camera); frames that do
not carry it (the bag outside ``bg``, the coat outside ``cl``) have ``on`` false.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from gstsn.data.synth.kinematics import FOOT_RADIUS, NECK_TOP, Pose
from gstsn.data.synth.traits import BAG_BACKPACK, BAG_NONE, BAG_SHOULDER, SequenceParams, SubjectTraits

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
)


@dataclass(frozen=True)
class Prism:
    """An upright solid of N frames: ``top`` (N, K, 3) and ``bottom`` (N, L, 3) points (metres, world) whose
    projections, widened by ``top_r`` / ``bottom_r`` (N,) metres, span its top and bottom edges; ``on`` (N,) bool."""

    top: np.ndarray
    bottom: np.ndarray
    top_r: np.ndarray
    bottom_r: np.ndarray
    on: np.ndarray

    def take(self, sl: slice) -> Prism:
        return Prism(*(getattr(self, f.name)[sl] for f in dataclasses.fields(self)))


@dataclass(frozen=True)
class Body:
    """Renderable body of N frames.

    - ``a``, ``b``: (N, P, 3) capsule segment ends (metres, world), P = len(CAPSULE_NAMES);
    - ``r``: (N, P) capsule radii (metres; negative = slot unused in that frame);
    - ``prisms``: the coat skirt and the bag.
    """

    a: np.ndarray
    b: np.ndarray
    r: np.ndarray
    prisms: tuple[Prism, ...]

    def take(self, sl: slice) -> Body:
        """The frames ``sl`` of this body."""
        return Body(self.a[sl], self.b[sl], self.r[sl], tuple(p.take(sl) for p in self.prisms))


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

    # Coat skirt: from the waist (trunk girth) to the hem around each leg.
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
    skirt = Prism(waist, np.stack(hems, axis=1), np.zeros(n), hem_r, coat)
    return Body(a=a, b=b, r=r, prisms=(skirt, _bag(pose, seqp, seq, r_trunk[:, 0], bt["hip_half"] * H * build)))


def _bag(pose: Pose, seqp: SequenceParams, seq: np.ndarray, r_trunk: np.ndarray, hip_w: float) -> Prism:
    """The bag as an upright box ``bag_w`` wide, ``bag_h`` tall, ``bag_d`` deep: a backpack on the back (width across
    the body), a shoulder bag against the hip or a handbag hanging from the hand (width along the walk)."""
    kind = seqp.bag[seq]
    side = seqp.bag_side[seq][:, None]
    w, h, d = (getattr(seqp, k)[seq][:, None] for k in ("bag_w", "bag_h", "bag_d"))
    drop, shift = seqp.bag_drop[seq][:, None], seqp.bag_shift[seq][:, None]
    z = np.broadcast_to(np.array([0.0, 0.0, 1.0]), pose.fwd.shape)
    swing = 0.03 * np.sin(2 * np.pi * pose.phase)[:, None] * pose.fwd  # pendulum of a hanging bag
    hand = np.where(side > 0, pose.hand_l, pose.hand_r)
    back = (kind == BAG_BACKPACK)[:, None]
    hip_bag = (kind == BAG_SHOULDER)[:, None]
    centre = np.where(
        back,
        pose.shoulder_c - (h / 2 + 0.02 + drop) * pose.trunk_axis - (r_trunk[:, None] + d / 2) * pose.fwd,
        np.where(
            hip_bag,
            pose.pelvis + side * (hip_w + d / 2) * pose.lat_pelvis + drop * z + shift * pose.fwd + swing,
            hand - (h / 2 + 0.02) * z + shift * pose.fwd + side * 0.02 * pose.lat_pelvis,
        ),
    )
    up = np.where(back, pose.trunk_axis, z) * (h / 2)
    across = np.where(back, pose.lat_thorax, pose.fwd) * (w / 2)
    deep = np.where(back, pose.fwd, pose.lat_pelvis) * (d / 2)
    corners = [centre + sa * across + sd * deep for sa in (-1, 1) for sd in (-1, 1)]
    top = np.stack([c + up for c in corners], axis=1)
    bottom = np.stack([c - up for c in corners], axis=1)
    zero = np.zeros(len(seq))
    return Prism(top, bottom, zero, zero, kind != BAG_NONE)
