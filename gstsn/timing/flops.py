"""FLOP counting and the same-run matmul reference that makes GFLOP/s comparable across noisy machines."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten


def _rows_times_steps(input_shape) -> int:
    """Time steps × sequences an RNN processes, from its input shape ``(S, B, in)``, ``(B, S, in)`` or ``(N, in)``."""
    total = 1
    for size in input_shape[:-1]:
        total *= size
    return total


def _gate_weight_flops(rows_steps: int, weight_shapes, stride: int) -> int:
    """2·rows·steps·(|W_ih| + |W_hh|) over layers; ``weight_shapes`` lists ``W_ih, W_hh[, b_ih, b_hh]`` per layer."""
    total = 0
    for i in range(0, len(weight_shapes), stride):
        w_ih, w_hh = weight_shapes[i], weight_shapes[i + 1]
        total += 2 * rows_steps * (w_ih[0] * w_ih[1] + w_hh[0] * w_hh[1])
    return total


def _lstm_flops(input_shape, second, third, fourth, fifth=None, *args, out_shape=None, **kwargs) -> int:
    """``aten.lstm`` (the whole LSTM, seen under ``inference_mode``); FlopCounterMode counts per overload packet, so
    both overloads arrive here:

    - ``lstm.input(input, hx, params, has_biases, ...)``: dense ``(S, B, in)`` / ``(B, S, in)`` input;
    - ``lstm.data(data, batch_sizes, hx, params, has_biases, ...)``: a packed sequence, ``data (N, in)`` holding only
      the real time steps (told apart by its second argument, the shape of ``batch_sizes``, a ``torch.Size``).
    """
    if isinstance(second, torch.Size):  # lstm.data
        return _gate_weight_flops(_rows_times_steps(input_shape), fourth, 4 if fifth else 2)
    return _gate_weight_flops(_rows_times_steps(input_shape), third, 4 if fourth else 2)


def _mkldnn_layer_flops(input_shape, w_ih, w_hh, *args, out_shape=None, **kwargs) -> int:
    """``aten.mkldnn_rnn_layer``: one CPU LSTM layer (seen when autograd decomposes ``aten.lstm``)."""
    return _gate_weight_flops(_rows_times_steps(input_shape), [w_ih, w_hh], 2)


def _mkldnn_layer_backward_flops(input_shape, w_ih, w_hh, *args, out_shape=None, **kwargs) -> int:
    """Backward of one layer: gradients for the inputs and for the weights, twice the forward."""
    return 2 * _mkldnn_layer_flops(input_shape, w_ih, w_hh)


def _cudnn_rnn_flops(input_shape, weight_shapes, weight_stride0, *args, out_shape=None, **kwargs) -> int:
    """``aten._cudnn_rnn``: all layers on CUDA; ``weight_stride0`` is 4 with biases, 2 without."""
    return _gate_weight_flops(_rows_times_steps(input_shape), weight_shapes, weight_stride0)


def _cudnn_rnn_backward_flops(input_shape, weight_shapes, weight_stride0, *args, out_shape=None, **kwargs) -> int:
    return 2 * _cudnn_rnn_flops(input_shape, weight_shapes, weight_stride0)


# FlopCounterMode decides "count or decompose" on the overload and counts under the overload packet: register both.
# Without these, LSTMs decompose into backend kernels that FlopCounterMode does not count at all.
_RNN_FORMULAS = {
    aten.lstm: _lstm_flops,
    aten.mkldnn_rnn_layer: _mkldnn_layer_flops,
    aten.mkldnn_rnn_layer_backward: _mkldnn_layer_backward_flops,
    aten._cudnn_rnn: _cudnn_rnn_flops,
    aten._cudnn_rnn_backward: _cudnn_rnn_backward_flops,
}
CUSTOM_FLOP_FORMULAS = {
    **_RNN_FORMULAS,
    **{getattr(packet, name): fn for packet, fn in _RNN_FORMULAS.items() for name in packet.overloads()},
}


def count_flops(fn: Callable[[], object]) -> int:
    """Total FLOPs (multiply-add = 2) that ``fn()`` runs, LSTMs included."""
    with FlopCounterMode(display=False, custom_mapping=CUSTOM_FLOP_FORMULAS) as counter:
        fn()
    return counter.get_total_flops()


def matmul_gflops(
    size: int = 2048, repeats: int = 10, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> float:
    """GFLOP/s of a ``size``×``size`` matmul measured now, on this device: the same-run reference for "% of peak"."""
    device = torch.device(device)
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, dtype=dtype, generator=g)
    b = torch.randn(size, size, device=device, dtype=dtype, generator=g)
    for _ in range(2):
        a @ b
    synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
