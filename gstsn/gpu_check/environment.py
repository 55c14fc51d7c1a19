"""Phase ``env``: the device, driver, torch, CUDA, cuDNN and Triton versions, and the same-run matmul rates."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from gstsn.timing.flops import matmul_gflops

NVIDIA_SMI_QUERY = "name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.draw,temperature.gpu"


def command_text(cmd: list[str], timeout: float = 20) -> str | None:
    """``cmd``'s standard output, stripped; None when it cannot run or fails."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device: torch.device, repo: Path) -> dict[str, Any]:
    """What ran the check (``repo``: the checkout, for its commit); on CUDA also the GPU and its matmul rates."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "device": str(device),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "git_commit": command_text(["git", "-C", str(repo), "rev-parse", "HEAD"]),
    }
    try:
        import triton

        env["triton"] = triton.__version__
    except ImportError:
        env["triton"] = None
    if device.type == "cuda":
        env.update(cuda_device(device))
    else:
        env["device_name"] = platform.processor() or "cpu"
        env["matmul_tflops_fp32_1024"] = matmul_gflops(1024, 3, device) / 1e3
    return env


def cuda_device(device: torch.device) -> dict[str, Any]:
    """The GPU's properties, ``nvidia-smi``'s line and driver, and the bf16 / TF32 / fp32 matmul rates now."""
    props = torch.cuda.get_device_properties(device)
    env: dict[str, Any] = dict(
        device_name=props.name,
        capability=f"{props.major}.{props.minor}",
        multiprocessors=props.multi_processor_count,
        memory_gib=round(props.total_memory / 2**30, 1),
        nvidia_smi=command_text(["nvidia-smi", f"--query-gpu={NVIDIA_SMI_QUERY}", "--format=csv,noheader"]),
    )
    if env["nvidia_smi"]:
        env["driver"] = env["nvidia_smi"].split(",")[1].strip()
    saved = torch.backends.cuda.matmul.allow_tf32
    try:
        env["matmul_tflops_bf16_8192"] = matmul_gflops(8192, 10, device, torch.bfloat16) / 1e3
        torch.backends.cuda.matmul.allow_tf32 = True
        env["matmul_tflops_tf32_8192"] = matmul_gflops(8192, 5, device, torch.float32) / 1e3
        torch.backends.cuda.matmul.allow_tf32 = False
        env["matmul_tflops_fp32_4096"] = matmul_gflops(4096, 5, device, torch.float32) / 1e3
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved
    return env


__all__ = ["command_text", "cuda_device", "environment"]
