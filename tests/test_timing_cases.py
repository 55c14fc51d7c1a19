"""Timing cases, profiles, variants, the synthetic timing cache and the workloads built from them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gstsn.data.cache import SilhouetteCache
from gstsn.data.naming import SEQ_TYPES, VIEWS
from gstsn.timing.cases import enumerate_cases, enumerate_pairs
from gstsn.timing.profiles import PROFILES, Repeats, resolve_timing_profile
from gstsn.timing.synthetic import synthetic_index, synthetic_subjects, write_synthetic_cache
from gstsn.timing.variants import (
    GAITSET,
    GSTSN_PAPER,
    VARIANT_IDS,
    TimingConfigError,
    Variant,
    select_variants,
    variant_by_id,
)
from gstsn.timing.workloads import (
    build_workload,
    device_unavailable,
    evaluation_unavailable,
    precision,
    skip_reason,
)


def test_variant_ids_are_readable_and_unique():
    assert VARIANT_IDS[:2] == ("gaitset", "gstsn-median-L2")
    assert len(set(VARIANT_IDS)) == len(VARIANT_IDS) == 9
    assert {"gstsn-median-L0", "gstsn-median-L1", "gstsn-max+median-L2", "gstsn-median-tconv"} <= set(VARIANT_IDS)
    tconv = variant_by_id("gstsn-median-tconv")
    assert tconv.columns() == {"model": "gstsn", "temporal": True, "idr_stat": "median", "lstm_layers": None,
                               "temporal_module": "tconv"}  # fmt: skip
    assert tconv.overrides() == {"temporal": True, "idr_stat": "median", "temporal_module": "tconv"}
    empty = dict.fromkeys(["idr_stat", "lstm_layers", "temporal_module"])
    assert GAITSET.columns() == {"model": "gaitset", "temporal": False, **empty}
    paper = {"temporal": True, "idr_stat": "median", "lstm_layers": 2, "temporal_module": "lstm"}
    assert GSTSN_PAPER.overrides() == paper


def test_select_variants_keeps_the_headline_pair_and_rejects_unknown_ids():
    assert [v.id for v in select_variants("gstsn-median-L0")] == ["gaitset", "gstsn-median-L2", "gstsn-median-L0"]
    assert select_variants("all") == select_variants(None)
    with pytest.raises(TimingConfigError, match="known variants"):
        select_variants("gstsn-mode-L2")
    with pytest.raises(ValueError, match="idr_stat"):
        Variant(True, "mode", 2)


def test_profiles_resolve_per_device():
    assert resolve_timing_profile("auto", "cpu").name == "cpu"
    assert resolve_timing_profile("auto", "cuda").name == "paper"
    assert resolve_timing_profile("tiny", "cuda").name == "tiny"
    with pytest.raises(TimingConfigError, match="tiny"):
        resolve_timing_profile("huge", "cpu")
    with pytest.raises(TimingConfigError, match="rounds"):
        Repeats(0, 0, 0)


def test_cpu_cases_cover_fp32_and_bf16_and_cuda_cases_cover_three_precisions():
    cpu = enumerate_cases("train_step", "cpu", "cpu")
    assert {c.dtype for c in cpu} == {"fp32", "bf16"}
    assert [c.id for c in cpu][:2] == ["gaitset-cpu-fp32-32x16", "gstsn-median-L2-cpu-fp32-32x16"]
    bf16 = next(c for c in cpu if c.dtype == "bf16")
    assert bf16.run_config().train.cpu_precision == "bf16"
    assert next(c for c in cpu if c.dtype == "fp32").run_config().train.cpu_precision == "fp32"
    cuda = enumerate_cases("train_step", "auto", "cuda")
    assert {c.dtype for c in cuda} == {"fp32", "tf32", "bf16"} and len(cuda) == 3 * len(VARIANT_IDS)
    assert all(c.profile.name == "paper" for c in cuda)
    ids = [c.id for c in enumerate_cases("inference", "auto", ("cpu", "cuda"))]
    assert len(ids) == len(set(ids))


def test_extra_inference_shapes_only_for_the_headline_pair():
    cases = enumerate_cases("inference", "cpu", "cpu")
    extra = [c for c in cases if (c.batch, c.frames) != (32, 16)]
    assert {c.variant.id for c in extra} == {"gaitset", "gstsn-median-L2"}
    assert {(c.batch, c.frames) for c in extra} == set(PROFILES["cpu"].extra_inference)


def test_data_loading_cases_vary_input_type_only():
    cases = enumerate_cases("data_loading", "cpu", "cpu")
    assert [(c.variant, c.input_type, c.dtype) for c in cases] == [(None, "set", "fp32"), (None, "sequence", "fp32")]
    assert cases[1].id == "data-sequence-cpu-fp32-32x16"


def test_case_run_config_follows_the_profile():
    case = enumerate_cases("train_step", "cpu", "cpu")[1]
    cfg = case.run_config()
    assert (cfg.train.batch_p, cfg.train.batch_k, cfg.train.frames) == (8, 4, 16)
    assert cfg.model.temporal and cfg.model.channels == (16, 32, 64) and cfg.input.model_hw == (32, 22)
    assert cfg.train.amp is False
    bf16 = [c for c in enumerate_cases("train_step", "auto", "cuda") if c.dtype == "bf16"][0]
    assert bf16.run_config().train.amp is True


def test_pairs_compare_gstsn_paper_with_gaitset_at_the_main_shape():
    pairs = [p for p in enumerate_pairs("cpu", "cpu") if p.kind == "models"]
    assert [(p.phase, p.b.dtype) for p in pairs] == [
        (phase, dtype) for phase in ("inference", "train_step", "evaluation") for dtype in ("fp32", "bf16")
    ]
    for p in pairs:
        assert (p.a.variant, p.b.variant) == (GAITSET, GSTSN_PAPER)
        assert (p.a.batch, p.a.frames) == (p.b.batch, p.b.frames)
    assert pairs[0].id == "inference-gstsn-median-L2-vs-gaitset-cpu-fp32"
    assert (pairs[0].b.batch, pairs[0].b.frames) == (32, 16)


def test_on_the_cpu_each_model_is_also_paired_with_itself_in_bf16_against_fp32():
    pairs = [p for p in enumerate_pairs("cpu", "cpu") if p.kind == "precision"]
    assert [(p.phase, p.b.variant) for p in pairs] == [
        (phase, v) for phase in ("inference", "train_step") for v in (GAITSET, GSTSN_PAPER)
    ]
    for p in pairs:
        assert (p.a.variant, p.a.dtype, p.b.dtype) == (p.b.variant, "fp32", "bf16")
        assert (p.a.batch, p.a.frames) == (p.b.batch, p.b.frames)
        assert p.b.run_config().train.cpu_precision == "bf16" and p.a.run_config().train.cpu_precision == "fp32"
    assert pairs[0].id == "inference-gaitset-cpu-bf16-vs-fp32"
    both = enumerate_pairs("auto", ("cpu", "cuda"))
    assert len({p.id for p in both}) == len(both)
    assert not [p for p in enumerate_pairs("auto", "cuda") if p.kind == "precision"]  # CUDA: tf32/bf16 cases, no pairs


def test_unknown_phase_or_device_is_rejected():
    with pytest.raises(TimingConfigError, match="phase"):
        enumerate_cases("backward", "cpu", "cpu")
    with pytest.raises(TimingConfigError, match="devices"):
        enumerate_cases("inference", "cpu", "tpu")


def test_synthetic_index_has_the_casia_b_grid_and_seeded_lengths():
    profile = PROFILES["tiny"]
    train, test = synthetic_subjects(profile)
    assert (train, test) == (["001", "002", "003", "004"], ["005", "006"])
    index = synthetic_index(profile)
    assert len(index) == 6 * len(SEQ_TYPES) * len(VIEWS)
    assert (index["start"].to_numpy() == np.concatenate([[0], np.cumsum(index["length"])[:-1]])).all()
    test_len = index.loc[index["subject"].isin(test), "length"]
    assert test_len.between(*profile.test_lengths).all()
    assert index.equals(synthetic_index(profile))


def test_synthetic_cache_is_binary_with_zero_pad_bits(tmp_path):
    profile = PROFILES["tiny"]
    cache = SilhouetteCache.open(write_synthetic_cache(tmp_path / "c", profile, 16, 11))
    assert (cache.height, cache.width, len(cache)) == (16, 11, 660)
    assert np.all(cache.packed[..., -1] & 0x1F == 0)  # 11 = 8 + 3 bits: the last 5 bits of each row are padding
    seq = cache.sequence(0)
    assert seq.shape == (int(cache.lengths[0]), 16, 11) and set(np.unique(seq)) <= {0, 1}
    cache.verify()


def test_train_step_workload_updates_the_weights_and_inference_returns_embeddings():
    train = enumerate_cases("train_step", "tiny", "cpu")[1]
    w = build_workload(train)
    before = [p.detach().clone() for p in w.model.parameters()]
    stats = w.fn()
    assert stats.shape == (4,) and torch.isfinite(stats).all()
    assert any(not torch.equal(a, b) for a, b in zip(before, w.model.parameters(), strict=True))
    inf = enumerate_cases("inference", "tiny", "cpu")[1]
    out = build_workload(inf).fn()
    assert out.shape == (inf.batch, 3 * 3, 16)  # smoke: bins 1+2 → 3 parts per map, 3 maps, embed 16


def test_workloads_do_not_touch_the_global_rng():
    state = torch.get_rng_state()
    build_workload(enumerate_cases("inference", "tiny", "cpu")[0])
    assert torch.equal(state, torch.get_rng_state())


def test_precision_rules():
    with precision("fp32", torch.device("cpu")):
        pass
    with pytest.raises(TimingConfigError, match="unknown"):
        with precision("fp8", torch.device("cpu")):
            pass


def test_skip_reasons_name_the_missing_piece():
    cuda_case = enumerate_cases("inference", "tiny", "cuda")[0]
    assert (skip_reason(cuda_case) is None) == torch.cuda.is_available()
    if not torch.cuda.is_available():
        assert "no CUDA device" in device_unavailable("cuda")
    assert device_unavailable("cpu") is None


def test_the_evaluation_phase_is_timed_for_both_models_and_scores_rank1(tmp_path, monkeypatch):
    # The evaluation code ships with this package, so on the CPU the evaluation phase always runs: it is never
    # skipped, and its callable embeds the test subjects and scores the CASIA-B protocol (NM / BG / CL rank-1 in %),
    # in fp32 and in bf16 (here as on a CPU with bf16 in hardware; emulated where it has none)
    monkeypatch.setenv("GSTSN_CPU_BF16", "1")
    assert evaluation_unavailable() is None
    cases = enumerate_cases("evaluation", "tiny", "cpu")
    assert [(c.variant.id, c.dtype) for c in cases] == [
        (v, d) for d in ("fp32", "bf16") for v in ("gaitset", "gstsn-median-L2")
    ]
    assert [skip_reason(c) for c in cases] == [None] * 4
    inp = cases[0].run_config().input
    cache = SilhouetteCache.open(write_synthetic_cache(tmp_path / "c", PROFILES["tiny"], inp.height, inp.width))
    for case in cases:
        result = build_workload(case, cache, synthetic_subjects(PROFILES["tiny"])).fn()
        assert set(result.summary) == {"NM", "BG", "CL"}, case.id
        assert all(0.0 <= v <= 100.0 for v in result.summary.values()), (case.id, dict(result.summary))
        # 2 test subjects x 11 views x 6 probe sequences (NM-05/06, BG-01/02, CL-01/02): every one embedded and scored
        assert int(result.n_probes.to_numpy().sum()) == 2 * len(VIEWS) * 6, case.id


def test_cpu_bf16_cases_are_skipped_with_a_reason_where_the_cpu_lacks_bf16(monkeypatch):
    case = next(c for c in enumerate_cases("train_step", "cpu", "cpu") if c.dtype == "bf16")
    fp32 = next(c for c in enumerate_cases("train_step", "cpu", "cpu") if c.dtype == "fp32")
    monkeypatch.setenv("GSTSN_CPU_BF16", "0")
    assert "no bf16 in hardware" in skip_reason(case) and skip_reason(fp32) is None
    monkeypatch.setenv("GSTSN_CPU_BF16", "1")
    assert skip_reason(case) is None


def test_cpu_bf16_precision_autocasts_the_forward_pass():
    x = torch.randn(4, 8)
    w = torch.randn(8, 3)
    with precision("bf16", torch.device("cpu")):
        assert (x @ w).dtype == torch.bfloat16
    with precision("fp32", torch.device("cpu")):
        assert (x @ w).dtype == torch.float32
    with pytest.raises(TimingConfigError, match="CUDA only"):
        with precision("tf32", torch.device("cpu")):
            pass
