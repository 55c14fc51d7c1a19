"""The procedural CASIA-B-like generator: config, schema, determinism, fingerprint, geometry, identity cue, preview."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from gstsn.config import ConfigError
from gstsn.data.naming import SEQ_TYPES, VIEWS
from gstsn.data.synth import GENERATOR_NAME, GENERATOR_VERSION, SynthConfig, fingerprint, generate, write_preview
from gstsn.data.synth import config as synth_config
from gstsn.data.synth.kinematics import HIP_COEFFS, KNEE_COEFFS, fourier_angle, walker_pose
from gstsn.data.synth.render import capsule_spans, make_cameras, mass_centre, paint_words, project, unpack_words
from gstsn.data.synth.traits import BODY_TRAITS, MOTION_TRAITS, SubjectTraits, sequence_params, subject_traits

TINY = SynthConfig(subjects=2, frames_min=6, frames_max=9)
CLEAN = dict(edge_noise_px=0.0, hole_rate=0.0, part_dropout=0.0, angle_jitter_deg=0.0)


@pytest.fixture(scope="module")
def tiny():
    return generate(TINY)


# ----------------------------------------------------------------------------------------------------------- config
def test_config_defaults():
    cfg = SynthConfig()
    assert (cfg.subjects, cfg.height, cfg.width) == (50, 64, 44)
    assert 40 <= cfg.frames_min <= cfg.frames_max <= 56
    assert 0.0 < cfg.identity_cue < 1.0
    assert cfg.body_spread == cfg.motion_spread == 1.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subjects", 0),
        ("subjects", 1000),
        ("subjects", True),
        ("subjects", 2.0),
        ("frames_min", 1),
        ("height", 8),
        ("identity_cue", 1.5),
        ("identity_cue", -0.1),
        ("identity_cue", "0.5"),
        ("fps", 0.0),
        ("edge_noise_px", -1.0),
        ("part_dropout", 2.0),
        ("seed", -1),
    ],
)
def test_config_rejects_bad_values_naming_field_and_value(field, value):
    with pytest.raises(ConfigError) as err:
        SynthConfig(**{field: value})
    msg = str(err.value)
    assert f"SynthConfig.{field}" in msg and repr(value) in msg and "expected" in msg
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(frames_min=30, frames_max=20), "frames_max"),
        (dict(height=32, width=44), "width"),
        (dict(camera_distance_min=6.0, camera_distance_max=4.0), "camera_distance_max"),
    ],
)
def test_config_rejects_inconsistent_pairs(kwargs, field):
    with pytest.raises(ConfigError, match=f"SynthConfig.{field}"):
        SynthConfig(**kwargs)


def test_config_is_frozen_and_normalises_numbers():
    cfg = SynthConfig(identity_cue=1)
    assert isinstance(cfg.identity_cue, float)
    assert fingerprint(cfg) == fingerprint(SynthConfig(identity_cue=1.0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.subjects = 3  # type: ignore[misc]


def test_identity_cue_spreads():
    assert (SynthConfig(identity_cue=0.0).body_spread, SynthConfig(identity_cue=0.0).motion_spread) == (0.0, 1.0)
    assert (SynthConfig(identity_cue=1.0).body_spread, SynthConfig(identity_cue=1.0).motion_spread) == (1.0, 0.0)
    assert SynthConfig(identity_cue=0.25).body_spread == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------------------ fingerprint
def test_fingerprint_changes_with_every_field_and_the_version(monkeypatch):
    base = SynthConfig()
    seen = {fingerprint(base)}
    changed = dict(
        subjects=49,
        frames_min=41,
        frames_max=55,
        height=96,
        width=40,
        identity_cue=0.4,
        fps=30.0,
        camera_distance_min=4.5,
        camera_distance_max=5.5,
        heading_jitter_deg=1.0,
        angle_jitter_deg=1.0,
        edge_noise_px=0.2,
        hole_rate=0.4,
        part_dropout=0.01,
        seed=1,
    )
    assert set(changed) == {f.name for f in dataclasses.fields(SynthConfig)}, "test every config field"
    for name, value in changed.items():
        fp = fingerprint(dataclasses.replace(base, **{name: value}))
        assert fp not in seen, name
        seen.add(fp)
    assert fingerprint(SynthConfig()) == fingerprint(base)
    monkeypatch.setattr(synth_config, "GENERATOR_VERSION", GENERATOR_VERSION + "-next")
    assert fingerprint(base) not in seen


# ----------------------------------------------------------------------------------------------------------- schema
def test_dataset_schema(tiny):
    idx, frames = tiny.index, tiny.frames
    assert list(idx.columns) == ["subject", "seq_type", "view", "start", "length"]
    assert idx.start.dtype == np.int64 and idx.length.dtype == np.int64
    assert len(tiny) == len(idx) == 2 * len(SEQ_TYPES) * len(VIEWS)
    assert sorted(idx.subject.unique()) == ["001", "002"]
    assert set(idx.seq_type) == set(SEQ_TYPES) and set(idx.view) == set(VIEWS)
    keys = list(zip(idx.subject, idx.seq_type, idx.view, strict=True))
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert idx.length.between(TINY.frames_min, TINY.frames_max).all()
    assert (idx.start.to_numpy() == np.concatenate([[0], np.cumsum(idx.length)[:-1]])).all()
    assert frames.dtype == np.uint8 and frames.shape == (idx.length.sum(), 64, 44)
    assert set(np.unique(frames)) <= {0, 1}
    assert tiny.sequence(3).shape == (idx.length[3], 64, 44)
    # Every frame shows a person of plausible size (real CASIA-B: ~27 % of the 64x44 frame is foreground).
    fill = frames.mean(axis=(1, 2))
    assert fill.min() > 0.08 and fill.max() < 0.6 and 0.15 < fill.mean() < 0.35


def test_dataset_meta(tiny):
    meta = tiny.meta
    assert meta["generator"] == GENERATOR_NAME and meta["generator_version"] == GENERATOR_VERSION
    assert meta["fingerprint"] == fingerprint(TINY)
    assert meta["config"] == dataclasses.asdict(TINY)
    assert meta["sequences"] == len(tiny.index) and meta["frames"] == len(tiny.frames)
    assert json.loads(json.dumps(meta)) == meta


def test_other_frame_sizes():
    ds = generate(SynthConfig(subjects=1, frames_min=3, frames_max=3, height=32, width=22))
    assert ds.frames.shape == (len(ds.index) * 3, 32, 22) and ds.frames.any()


# ------------------------------------------------------------------------------------------------------ determinism
def test_bit_identical_on_repeat(tiny):
    again = generate(TINY)
    assert np.array_equal(again.frames, tiny.frames)
    assert again.index.equals(tiny.index)
    assert again.meta == tiny.meta


def test_subject_does_not_depend_on_how_many_are_generated(tiny):
    one = generate(dataclasses.replace(TINY, subjects=1))
    n = int(one.index.length.sum())
    assert np.array_equal(one.frames, tiny.frames[:n])


def test_seed_changes_the_output(tiny):
    other = generate(dataclasses.replace(TINY, seed=1))
    assert not np.array_equal(other.index.length, tiny.index.length) or not np.array_equal(other.frames, tiny.frames)


def test_progress_reports_each_subject():
    calls = []
    generate(SynthConfig(subjects=2, frames_min=2, frames_max=2), progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 2), (2, 2)]


def test_generate_rejects_non_config():
    with pytest.raises(TypeError, match="SynthConfig"):
        generate({"subjects": 2})  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- rendering geometry
def _brute_force(ax, ay, bx, by, r, rows, cols):
    """Pixel (row, col) is inside iff its distance to the segment is <= r (dense reference)."""
    px, py = cols[None, :], rows[:, None]
    dx, dy = bx - ax, by - ay
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
    dist = np.hypot(px - (ax + t * dx), py - (ay + t * dy))
    return dist <= r, np.abs(dist - r) < 1e-3


def test_capsule_spans_match_a_dense_distance_test():
    rng = np.random.default_rng(0)
    rows, cols = np.arange(48, dtype=np.float32), np.arange(64)
    for case in range(60):
        ax, ay, bx, by = rng.uniform(5, 43, 4)
        if case % 10 == 0:
            by = ay  # horizontal
        if case % 10 == 1:
            bx = ax  # vertical
        if case % 10 == 2:
            bx, by = ax, ay  # a disc
        r = rng.uniform(0.5, 8)
        spans = capsule_spans(*(np.array([[[v]]], np.float32) for v in (ax, ay, bx, by, r)), rows)
        img = unpack_words(paint_words(*spans, n_words=1))[0]
        inside, edge = _brute_force(ax, ay, bx, by, r, rows, cols)
        assert np.array_equal(img[~edge], inside[~edge]), f"case {case}: {(ax, ay, bx, by, r)}"


def test_absent_capsules_paint_nothing():
    spans = capsule_spans(*(np.array([[[v]]], np.float32) for v in (10, 10, 20, 30, -1.0)), np.arange(48.0))
    assert not unpack_words(paint_words(*spans, n_words=1)).any()


def test_cameras_mirror_front_and_back_views():
    cams = make_cameras(np.array([0.0, 90.0, 180.0]), np.full(3, 5.0), np.full(3, 1.0))
    left = np.array([0.0, 0.3, 1.0])  # a point on the walker's left
    ahead = np.array([0.3, 0.0, 1.0])  # a point ahead of the walker
    x, _, depth = project(np.stack([np.stack([left, ahead])] * 3), cams)
    assert (depth > 0).all()
    assert x[0, 0] > 0 > x[2, 0], "front view sees the walker's left on the image right, the back view on the left"
    assert x[1, 1] < 0, "at 90° the walker moves towards the image left (as in CASIA-B)"
    assert x[0, 0] == pytest.approx(-x[2, 0], rel=0.05)


def test_pretreatment_height_normalised_and_centred():
    ds = generate(SynthConfig(subjects=1, frames_min=8, frames_max=8, **CLEAN))
    nm = ds.index.seq_type.str.startswith("nm").to_numpy()
    frames = np.concatenate([ds.sequence(i) for i in np.flatnonzero(nm)])
    assert frames[:, 0].any(axis=1).all() and frames[:, -1].any(axis=1).all(), "silhouette spans rows 0..63"
    centre = mass_centre(frames)  # the mass-half column of the 64-wide window lands on column 32 - 10 of the crop
    assert np.mean(np.abs(centre - 22) <= 1) > 0.99


def test_covariates_add_area():
    ds = generate(SynthConfig(subjects=2, frames_min=10, frames_max=10, **CLEAN))
    fill = ds.frames.reshape(len(ds.index), 10, -1).mean(axis=(1, 2))
    cond = ds.index.seq_type.str[:2].to_numpy()
    nm, bg, cl = (fill[cond == c].mean() for c in ("nm", "bg", "cl"))
    assert cl > 1.15 * nm, (nm, cl)
    assert bg > 1.03 * nm, (nm, bg)


def test_views_differ_and_subjects_differ():
    ds = generate(SynthConfig(subjects=2, frames_min=20, frames_max=20, **CLEAN))
    geis = {(s, t, v): ds.frames[a : a + n].mean(0) for s, t, v, a, n in ds.index.itertuples(index=False)}
    same = np.abs(geis["001", "nm-01", "090"] - geis["001", "nm-02", "090"]).mean()
    other_subject = np.abs(geis["001", "nm-01", "090"] - geis["002", "nm-01", "090"]).mean()
    other_view = np.abs(geis["001", "nm-01", "090"] - geis["001", "nm-01", "000"]).mean()
    assert same < other_subject < other_view


# ------------------------------------------------------------------------------------------------------- kinematics
def test_fourier_curves_match_the_reference():
    p = np.linspace(0, 1, 201)
    hip = fourier_angle(HIP_COEFFS[0], np.asarray(HIP_COEFFS[1]), p)
    knee = fourier_angle(KNEE_COEFFS[0], np.asarray(KNEE_COEFFS[1]), p)
    assert hip[0] == pytest.approx(HIP_COEFFS[0] + sum(a for a, _ in HIP_COEFFS[1]))
    assert -12 < hip.min() < -2 and 30 < hip.max() < 38  # extension at push-off, flexion at heel strike
    assert knee.max() > 55 and 0.6 < p[np.argmax(knee)] < 0.8  # swing-phase knee flexion peak
    assert abs(knee[0]) < 5  # knee almost straight at heel strike


def _mean_traits() -> SubjectTraits:
    return SubjectTraits(
        body={k: m for k, (m, _) in BODY_TRAITS.items()},
        motion={k: m for k, (m, _) in MOTION_TRAITS.items()},
        harmonics=np.zeros((3, 5, 2)),
    )


def test_left_leg_half_a_cycle_behind_and_arms_opposite():
    cfg = SynthConfig(angle_jitter_deg=0.0, heading_jitter_deg=0.0)
    seqp = sequence_params(cfg, 0, [(0, "nm"), (1, "nm")], [5, 5])
    seqp = dataclasses.replace(
        seqp, phase0=np.array([0.0, 0.5]), heading=np.zeros(2), lean_off_deg=np.zeros(2), arm_scale_r=np.ones(2),
        arm_scale_l=np.ones(2), cycle_scale=np.ones(2), stride_scale=np.ones(2),
    )  # fmt: skip
    pose = walker_pose(_mean_traits(), seqp, cfg.fps)
    first = np.concatenate([[0], np.cumsum(seqp.length)[:-1]])
    a, b = first  # frame 0 of each sequence: phase 0 and phase 0.5
    flip = np.array([1.0, -1.0, 1.0])
    thigh_r, thigh_l = pose.knee_r - pose.hip_r, pose.knee_l - pose.hip_l
    np.testing.assert_allclose(thigh_l[b], thigh_r[a] * flip, atol=1e-9)
    np.testing.assert_allclose(pose.toe_l[b] - pose.ankle_l[b], (pose.toe_r[a] - pose.ankle_r[a]) * flip, atol=1e-9)
    arm_r, arm_l = pose.elbow_r - pose.shoulder_r, pose.elbow_l - pose.shoulder_l
    np.testing.assert_allclose(arm_l[b], arm_r[a] * flip, atol=1e-9)
    # Right heel strike: right thigh forward, right arm back, left arm forward.
    assert thigh_r[a, 0] > 0 and arm_r[a, 0] < 0 < arm_l[a, 0]


def test_feet_touch_the_ground():
    cfg = SynthConfig()
    seqp = sequence_params(cfg, 3, [(0, "nm")], [2])
    pose = walker_pose(subject_traits(cfg, 3), seqp, cfg.fps)
    lowest = np.min([getattr(pose, k)[:, 2] for k in ("heel_r", "toe_r", "heel_l", "toe_l")], axis=0)
    np.testing.assert_allclose(lowest, lowest[0], atol=1e-9)  # constant (foot radius) above z = 0
    assert 0 < lowest[0] < 0.05


# ---------------------------------------------------------------------------------------------------- identity cue
@pytest.mark.parametrize("cue", [0.0, 0.5, 1.0])
def test_identity_cue_extremes(cue):
    cfg = SynthConfig(identity_cue=cue)
    traits = [subject_traits(cfg, i) for i in range(5)]
    bodies = np.stack([t.body_vector() for t in traits])
    motions = np.stack([t.motion_vector() for t in traits])
    body_same = bool((bodies == bodies[0]).all())
    motion_same = bool((motions == motions[0]).all())
    assert (body_same, motion_same) == {0.0: (True, False), 0.5: (False, False), 1.0: (False, True)}[cue]


def test_identity_cue_zero_renders_identical_bodies():
    """With identical bodies, two subjects' standing proportions agree exactly; only the gait differs."""
    cfg = SynthConfig(identity_cue=0.0)
    a, b = subject_traits(cfg, 0), subject_traits(cfg, 1)
    assert a.body == b.body and a.motion != b.motion


# ----------------------------------------------------------------------------------------------------------- preview
def test_write_preview(tiny, tmp_path):
    path = write_preview(tiny, tmp_path / "sub" / "preview.png")
    img = np.asarray(Image.open(path))
    assert img.ndim == 2 and img.shape[0] > 64 * 2 * 9 and img.shape[1] > 44 * 2 * 11
    assert (img == 255).mean() > 0.05  # silhouettes are drawn


def test_write_preview_leaves_missing_sequences_grey(tiny, tmp_path):
    class Partial:
        index = tiny.index[tiny.index.view != "090"].reset_index(drop=True)

        def sequence(self, i):
            row = self.index.iloc[i]
            return tiny.frames[row.start : row.start + row.length]

    path = write_preview(Partial(), tmp_path / "partial.png", scale=1)
    img = np.asarray(Image.open(path))
    col = 92 + 5 * (44 + 2)  # the 090 column
    assert (img[16 : 16 + 64, col : col + 44] == 60).all()
