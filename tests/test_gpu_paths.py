"""The GPU-speed paths, CPU side and (``cuda``-marked) GPU side: frames unpacked on the device, the loss's P×K
indices built once, the trainer's device-frame / compile / CUDA-graph steps, device-side test embedding.

The CPU tests pin that each fast path computes what the plain path computes; the ``cuda`` tests (run by
``bench/gpu_check.py`` on a GPU machine, skipped here) check the same on CUDA, where the paths are meant to run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.toy_data import SUBJECTS, make_toy_cache, read_log, toy_cfg

from gstsn.config import resolve_profile
from gstsn.data.device_frames import DeviceFrames
from gstsn.eval.embed import embed_sequences, evaluate_model
from gstsn.train.loss import (
    batch_all_triplet_tensor,
    is_pk_layout,
    pk_triplet_indices,
    triplet_indices,
)
from gstsn.train.setup import seeded_model
from gstsn.train.trainer import Trainer, train


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_cache(tmp_path_factory.mktemp("toy") / "cache")


def _devices():
    return ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.mark.parametrize("device", _devices())
def test_device_frames_unpack_what_the_cache_unpacks(toy, device):
    src = DeviceFrames.from_cache(toy, device)
    assert src.nbytes == toy.packed.size and (src.height, src.width) == (toy.height, toy.width)
    ids = np.random.default_rng(1).integers(0, toy.n_frames, size=(7, 5))
    got = src.frames(torch.from_numpy(ids))
    assert got.device.type == device and got.dtype == torch.uint8 and tuple(got.shape) == (7, 5, 32, 22)
    want = toy.frames(ids.reshape(-1)).reshape(7, 5, 32, 22)
    np.testing.assert_array_equal(got.cpu().numpy(), want)


def test_device_frames_reject_a_wrong_layout():
    with pytest.raises(ValueError, match="uint8 \\(F, H, ceil\\(W/8\\)\\) for width 44"):
        DeviceFrames(torch.zeros(3, 64, 5, dtype=torch.uint8), 44)


def test_pk_indices_give_the_per_batch_loss():
    p, k = 4, 3
    emb = torch.randn(p * k, 5, 8, requires_grad=True)
    labels = torch.tensor([7, 7, 7, 2, 2, 2, 9, 9, 9, 4, 4, 4])
    assert is_pk_layout(labels, p, k) and not is_pk_layout(labels.flip(0)[:-1], p, k)
    assert not is_pk_layout(torch.tensor([1, 1, 1, 1, 1, 1, 9, 9, 9, 4, 4, 4]), p, k)  # two blocks share a subject
    loss_a, stats_a = batch_all_triplet_tensor(emb, labels, 0.2)
    loss_b, stats_b = batch_all_triplet_tensor(emb, labels, 0.2, pk_triplet_indices(p, k))
    torch.testing.assert_close(loss_a, loss_b, rtol=0, atol=0)
    torch.testing.assert_close(stats_a, stats_b, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="indices are for 6 rows"):
        batch_all_triplet_tensor(emb, labels, 0.2, triplet_indices(labels[:6]))


def test_device_frames_change_nothing_in_a_cpu_run(toy, tmp_path):
    cfg = toy_cfg(iterations=4, prefetch=1)
    plain = train(cfg, tmp_path / "a", dataset=toy, train_subjects=SUBJECTS[:6], device="cpu", progress=False)
    fast = train(
        cfg, tmp_path / "b", dataset=toy, train_subjects=SUBJECTS[:6], device="cpu", progress=False, device_frames=True
    )
    assert fast.iteration == plain.iteration == 4
    strip = [{k: v for k, v in r.items() if k != "wall_time"} for r in read_log(tmp_path / "a")]
    assert strip == [{k: v for k, v in r.items() if k != "wall_time"} for r in read_log(tmp_path / "b")]


def _trainer(toy, out, device="cpu", **kwargs):
    cfg = toy_cfg(iterations=6, prefetch=0, temporal=kwargs.pop("temporal", True))
    return Trainer(cfg, out, dataset=toy, train_subjects=SUBJECTS[:6], device=device, progress=False, **kwargs)


def test_the_graph_body_is_the_step(toy, tmp_path):
    """``TrainStep.graph_body`` (what a CUDA graph captures) run eagerly updates the weights exactly as a step does."""
    a, b = _trainer(toy, tmp_path / "a", device_frames=True), _trainer(toy, tmp_path / "b", device_frames=True)
    from gstsn.train.batches import BatchStream

    stream = BatchStream(a.state.sampler, a.state.rng, 0, False, ids_only=True)
    for _ in range(3):
        batch = stream.next()
        stats_a = a.step(batch)
        b.state.optimizer.zero_grad(set_to_none=True)
        stats_b = b.train_step.graph_body(batch.frame_ids)
        torch.testing.assert_close(stats_a, stats_b, rtol=0, atol=0)
    for pa, pb in zip(a.module.parameters(), b.module.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)


def test_adam_flags_are_reapplied_after_loading_a_checkpoint():
    """A checkpoint's optimizer state restores its own implementation flags; the trainer puts its own back (on CUDA:
    fused, capturable for a graph), with the step counters where that implementation keeps them."""
    from gstsn.train.setup import apply_adam_options

    torch.manual_seed(0)
    model = torch.nn.Linear(6, 3)
    plain = torch.optim.Adam(model.parameters(), lr=1e-2)
    model(torch.randn(4, 6)).sum().backward()
    plain.step()
    saved = plain.state_dict()
    fused = torch.optim.Adam(model.parameters(), lr=1e-2, fused=True)
    fused.load_state_dict(saved)
    assert not fused.param_groups[0]["fused"]  # the saved run's flags won
    apply_adam_options(fused, {"fused": True})
    group = fused.param_groups[0]
    assert group["fused"] and not group["capturable"] and group["foreach"] is None
    assert all(st["step"].dtype == torch.float32 for st in fused.state.values())
    before = [p.detach().clone() for p in model.parameters()]
    fused.step()  # the fused kernel runs on the restored state
    assert all(not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))


def test_cuda_graph_needs_a_gpu(toy, tmp_path):
    from gstsn.train.trainer import TrainingError

    with pytest.raises(TrainingError, match="cuda_graph needs one CUDA device"):
        _trainer(toy, tmp_path, cuda_graph=True)


def test_embedding_from_device_frames_is_the_same(toy):
    cfg = resolve_profile("smoke", height=32, width=22, downsample=2, temporal=True, max_test_frames=9)
    model = seeded_model(cfg)
    rows = np.arange(0, 40)
    dev = torch.device("cpu")
    src = DeviceFrames.from_cache(toy, dev)
    plain = embed_sequences(model, toy, rows, cfg.input, dev, batch_frames=50, max_test_frames=9)
    fast = embed_sequences(model, toy, rows, cfg.input, dev, batch_frames=50, max_test_frames=9, frame_source=src)
    np.testing.assert_allclose(fast, plain, rtol=0, atol=1e-6)
    r_plain, f_plain = evaluate_model(model, toy, SUBJECTS[6:], cfg, dev)
    r_fast, f_fast = evaluate_model(model, toy, SUBJECTS[6:], cfg, dev, frame_source=src)
    assert r_fast.same_numbers(r_plain) and isinstance(f_fast, np.ndarray)
    np.testing.assert_allclose(f_fast, f_plain, rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------------------------------ CUDA
@pytest.mark.cuda
@pytest.mark.parametrize("temporal", [False, True])
def test_cuda_graph_steps_follow_the_eager_steps(toy, tmp_path, temporal):
    """Replays of the captured step give the eager step's loss and weights (fp32, TF32 off; fused Adam both)."""
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        runs = {}
        for name, graph in (("eager", False), ("graph", True)):
            cfg = toy_cfg(iterations=8, prefetch=0, temporal=temporal, amp=False, log_every=1)
            res = train(
                cfg, tmp_path / name, dataset=toy, train_subjects=SUBJECTS[:6], device="cuda", progress=False,
                cuda_graph=graph,
            )  # fmt: skip
            assert res.iteration == 8
            runs[name] = [float(r["loss"]) for r in read_log(tmp_path / name)]
        np.testing.assert_allclose(runs["graph"], runs["eager"], rtol=1e-4, atol=1e-5)
    finally:
        torch.backends.cudnn.allow_tf32 = True


@pytest.mark.cuda
def test_cuda_compiled_and_graphed_runs_finish_and_resume(toy, tmp_path):
    cfg = toy_cfg(iterations=4, prefetch=1, temporal=False, checkpoint_every=2)
    kw = dict(dataset=toy, train_subjects=SUBJECTS[:6], test_subjects=SUBJECTS[6:], device="cuda", progress=False)
    first = train(cfg, tmp_path / "c", compile_model=True, time_limit_s=1e-9, **kw)
    assert first.status == "time_limit" and first.checkpoint is not None
    done = train(cfg, tmp_path / "c", compile_model=True, resume=True, **kw)
    assert done.status == "completed" and done.resumed_from == first.iteration and done.final_eval is not None
    graphed = train(cfg, tmp_path / "g", cuda_graph=True, **kw)
    assert graphed.status == "completed" and all(np.isfinite(list(graphed.last_stats.values())))


@pytest.mark.cuda
def test_cuda_evaluation_from_device_frames_matches_the_host_path(toy):
    cfg = resolve_profile("smoke", height=32, width=22, downsample=2, temporal=True)
    dev = torch.device("cuda")
    model = seeded_model(cfg).to(dev)
    r_host, _ = evaluate_model(model, toy, SUBJECTS[6:], cfg, dev)
    r_dev, _ = evaluate_model(model, toy, SUBJECTS[6:], cfg, dev, frame_source=DeviceFrames.from_cache(toy, dev))
    assert r_dev.same_numbers(r_host)
