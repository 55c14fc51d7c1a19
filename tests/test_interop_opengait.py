"""``gstsn import-checkpoint``: an OpenGait GaitSet state dict (built here to OpenGait's module names and shapes, no
download) maps onto gstsn's GaitSet with the same outputs, evaluates through the CLI, and bad files name the key."""

from __future__ import annotations

import collections
import copy
import json

import pandas as pd
import pytest
import torch
from helpers.cli import run_cli
from helpers.toy_data import make_toy_cache
from torch import nn

from gstsn.config import ModelConfig
from gstsn.interop.opengait import ImportCheckpointError, read_state_dict, to_gstsn_state
from gstsn.models import build_model


class BasicConv2d(nn.Module):  # OpenGait's modules.BasicConv2d
    def __init__(self, c_in, c_out, k, s, p):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, stride=s, padding=p, bias=False)

    def forward(self, x):
        return self.conv(x)


class SetBlockWrapper(nn.Module):  # OpenGait's modules.SetBlockWrapper
    def __init__(self, block):
        super().__init__()
        self.forward_block = block

    def forward(self, x):
        n, c, s, h, w = x.size()
        x = self.forward_block(x.transpose(1, 2).reshape(-1, c, h, w))
        return x.reshape(n, s, *x.size()[1:]).transpose(1, 2).contiguous()


class OpenGaitGaitSet(nn.Module):
    """OpenGait's GaitSet (``opengait/modeling/models/gaitset.py``), equal-length sequences only: same module tree,
    so ``state_dict()`` has OpenGait's key names and shapes, and its forward is OpenGait's."""

    def __init__(self, in_c=(1, 32, 64, 128), parts=62, d=256, bins=(16, 8, 4, 2, 1)):
        super().__init__()
        self.bins = bins
        block1 = nn.Sequential(
            BasicConv2d(in_c[0], in_c[1], 5, 1, 2),
            nn.LeakyReLU(inplace=True),
            BasicConv2d(in_c[1], in_c[1], 3, 1, 1),
            nn.LeakyReLU(inplace=True),
            nn.MaxPool2d(2, 2),
        )
        block2 = nn.Sequential(
            BasicConv2d(in_c[1], in_c[2], 3, 1, 1),
            nn.LeakyReLU(inplace=True),
            BasicConv2d(in_c[2], in_c[2], 3, 1, 1),
            nn.LeakyReLU(inplace=True),
            nn.MaxPool2d(2, 2),
        )
        block3 = nn.Sequential(BasicConv2d(in_c[2], in_c[3], 3, 1, 1), nn.LeakyReLU(inplace=True),
                               BasicConv2d(in_c[3], in_c[3], 3, 1, 1), nn.LeakyReLU(inplace=True))  # fmt: skip
        self.set_block1, self.set_block2, self.set_block3 = block1, block2, block3
        self.gl_block2, self.gl_block3 = copy.deepcopy(block2), copy.deepcopy(block3)
        self.set_block1 = SetBlockWrapper(self.set_block1)
        self.set_block2 = SetBlockWrapper(self.set_block2)
        self.set_block3 = SetBlockWrapper(self.set_block3)
        self.Head = nn.Module()
        self.Head.fc_bin = nn.Parameter(nn.init.xavier_uniform_(torch.zeros(parts, in_c[3], d)))

    def hpp(self, x):
        n, c = x.shape[:2]
        return torch.cat([(z := x.view(n, c, b, -1)).mean(-1) + z.max(-1)[0] for b in self.bins], -1)

    def forward(self, sils):  # (n, s, h, w) -> (n, d, p), OpenGait's layout
        sils = sils.unsqueeze(1)
        outs = self.set_block1(sils)
        gl = self.gl_block2(outs.max(2)[0])
        outs = self.set_block2(outs)
        gl = self.gl_block3(gl + outs.max(2)[0])
        outs = self.set_block3(outs).max(2)[0]
        gl = gl + outs
        feature = torch.cat([self.hpp(outs), self.hpp(gl)], -1).permute(2, 0, 1)
        return feature.matmul(self.Head.fc_bin).permute(1, 2, 0)


def small_opengait(seed=0):
    torch.manual_seed(seed)
    return OpenGaitGaitSet(in_c=(1, 4, 8, 16), parts=30, d=12, bins=(8, 4, 2, 1))


def test_opengait_state_dict_has_opengaits_names():
    keys = set(OpenGaitGaitSet().state_dict())
    assert "set_block1.forward_block.0.conv.weight" in keys and "gl_block3.2.conv.weight" in keys
    assert "Head.fc_bin" in keys and len(keys) == 11
    mapped = to_gstsn_state(OpenGaitGaitSet().state_dict())
    assert mapped["channels"] == (32, 64, 128) and mapped["hpm_bins"] == (1, 2, 4, 8, 16)
    assert mapped["embed_dim"] == 256


@pytest.mark.parametrize("bins", [(8, 4, 2, 1), (1, 2, 4, 8)])
def test_mapped_gstsn_gaitset_gives_opengaits_embeddings(bins):
    og = small_opengait()
    og.bins = bins
    mapped = to_gstsn_state(og.state_dict(), bins)
    cfg = ModelConfig(temporal=False, channels=mapped["channels"], hpm_bins=mapped["hpm_bins"], embed_dim=12)
    model = build_model(cfg)
    model.load_state_dict(mapped["state"], strict=True)
    sils = (torch.rand(3, 7, 32, 22) > 0.5).float()
    with torch.no_grad():
        want = og(sils)  # (n, d, p) in OpenGait's part order
        got = model(sils)  # (n, p, d) in gstsn's order
    # gstsn's part j (set strips then MGP strips, bins 1, 2, 4, 8, top to bottom) is OpenGait's part perm[j]
    og_index = {b: sum(bins[: bins.index(b)]) for b in bins}
    perm = [m * 15 + og_index[b] + i for m in range(2) for b in (1, 2, 4, 8) for i in range(b)]
    torch.testing.assert_close(got, want[:, :, perm].transpose(1, 2), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda sd: sd.pop("gl_block2.2.conv.weight"), "missing key 'gl_block2.2.conv.weight'"),
        (lambda sd: sd.__setitem__("Head.fc_bins", sd.pop("Head.fc_bin")), "unexpected key 'Head.fc_bins'"),
        (lambda sd: sd.__setitem__("set_block2.forward_block.2.conv.weight", torch.zeros(8, 8, 5, 5)),
         "key 'set_block2.forward_block.2.conv.weight' has shape (8, 8, 5, 5); expected (8, 8, 3, 3)"),
        (lambda sd: sd.__setitem__("Head.fc_bin", torch.zeros(31, 16, 12)), "has 31 parts but bins"),
        (lambda sd: sd.__setitem__("set_block2.forward_block.0.conv.weight", torch.tensor(1.0)),
         "key 'set_block2.forward_block.0.conv.weight' has shape () (0-d); expected a 4-d conv weight of shape "
         "(c2, c1, 3, 3)"),
        (lambda sd: sd.__setitem__("set_block1.forward_block.0.conv.weight", torch.zeros(4, 25)),
         "key 'set_block1.forward_block.0.conv.weight' has shape (4, 25) (2-d); expected a 4-d conv weight of shape "
         "(c1, 1, 5, 5)"),
    ],
)  # fmt: skip
def test_a_file_that_does_not_match_names_the_first_bad_key(tmp_path, edit, message):
    sd = small_opengait().state_dict()
    edit(sd)
    path = tmp_path / "bad.pt"
    torch.save({"model": sd, "iteration": 1}, path)
    with pytest.raises(ImportCheckpointError) as err:
        to_gstsn_state(read_state_dict(path), (8, 4, 2, 1))
    assert message in str(err.value)


class Payload:  # not a weights-only type: must not be unpickled
    pass


def test_pickled_objects_are_refused_not_run(tmp_path):
    path = tmp_path / "obj.pt"
    torch.save({"model": small_opengait().state_dict(), "extra": Payload()}, path)
    with pytest.raises(ImportCheckpointError, match="could not be read as a weights-only torch file") as err:
        read_state_dict(path)
    assert "is refused: it is not a plain tensor checkpoint" in str(err.value)
    assert "weights_only=False" not in str(err.value) and "weights_only` set to `False`" not in str(err.value)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_checkpoint_is_refused_without_relaying_torchs_advice(tmp_path, capsys):
    """torch's message suggests loading with ``weights_only=False``, which would run the file's code: never relayed."""
    path, marker = tmp_path / "evil.pt", tmp_path / "pwned"
    torch.save({"model": small_opengait().state_dict(), "x": _Exploit(marker)}, path)
    code, _, err = run_cli(["import-checkpoint", str(path)], capsys)
    assert code == 2 and not marker.exists()
    assert f"{path} could not be read as a weights-only torch file and is refused: it is not a plain tensor" in err
    assert "weights_only=False" not in err and "weights_only` set to `False`" not in err
    assert "never in the unsafe mode" in err


def test_a_directory_is_named_as_one(tmp_path, capsys):
    code, _, err = run_cli(["import-checkpoint", str(tmp_path)], capsys)
    assert code == 2
    assert f"checkpoint {tmp_path} is a directory; expected a checkpoint file (an OpenGait .pt)" in err
    assert "does not exist" not in err


def test_an_output_that_is_a_file_is_refused_before_the_evaluation(tmp_path, capsys, monkeypatch):
    from gstsn.eval import embed

    def never(*args, **kwargs):
        raise AssertionError("the evaluation ran")

    monkeypatch.setattr(embed, "evaluate_model", never)
    cache = make_toy_cache(tmp_path / "cache")
    path = tmp_path / "og.pt"
    torch.save({"model": small_opengait().state_dict()}, path)
    (tmp_path / "afile").write_text("x")
    argv = ["import-checkpoint", str(path), "--data", str(cache.path), "--bins", "8,4,2,1", "--device", "cpu"]
    code, _, err = run_cli([*argv, "--out", str(tmp_path / "afile")], capsys)
    assert code == 2 and f"argument --out: {tmp_path / 'afile'} is a file; expected a folder" in err
    (tmp_path / "og-gstsn-eval").write_text("x")  # the default output folder
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert f"gstsn import-checkpoint: error: output folder: {tmp_path / 'og-gstsn-eval'} is a file" in err


def test_import_checkpoint_cli_evaluates_and_reports(tmp_path, capsys):
    cache = make_toy_cache(tmp_path / "cache")
    og = small_opengait()
    path = tmp_path / "GaitSet-40000.pt"
    params = list(og.parameters())
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[10000, 20000])
    checkpoint = {"model": {f"module.{k}": v for k, v in og.state_dict().items()}, "optimizer": opt.state_dict(),
                  "scheduler": sched.state_dict(), "iteration": 40000}  # fmt: skip
    assert isinstance(checkpoint["scheduler"]["milestones"], collections.Counter)
    torch.save(checkpoint, path)
    out = tmp_path / "out"
    argv = ["import-checkpoint", str(path), "--data", str(cache.path), "--height", "32", "--width", "22",
            "--downsample", "1", "--bins", "8,4,2,1", "--device", "cpu", "--out", str(out)]  # fmt: skip
    code, stdout, err = run_cli(argv, capsys)
    assert code == 0, err
    assert "rank-1 (identical views excluded, per_part)" in stdout and "mAP" in stdout
    res = json.loads((out / "results.json").read_text())
    assert res["kind"] == "import-checkpoint" and res["fields"]["channels"] == [4, 8, 16]
    assert res["fields"]["temporal"] is False and res["fields"]["hpm_bins"] == [1, 2, 4, 8]
    assert set(res["evaluation"]["rank1_excl_identical"]) == {"NM", "BG", "CL"}
    rows = pd.read_csv(out / "results.csv")
    assert {"rank1", "rank5", "map", "minp", "cv_rank1", "cv_map"} <= set(rows["metric"])
    assert (out / "matches.npz").is_file()

    sd = og.state_dict()
    sd["gl_block3.0.conv.weight"] = torch.zeros(16, 8, 1, 1)
    torch.save({"model": sd}, tmp_path / "bad.pt")
    code, _, err = run_cli(["import-checkpoint", str(tmp_path / "bad.pt"), "--data", str(cache.path)], capsys)
    assert code == 2 and "gstsn import-checkpoint: error: key 'gl_block3.0.conv.weight' has shape" in err
