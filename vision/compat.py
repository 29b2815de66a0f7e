"""Load YOLOv12 checkpoints written by the original YOLOv12 fork on the installed ultralytics.

Why this exists: ``helmet-detector==2.1.0`` ships ``helmet_detector_pkg/weights/best.pt``, trained with
the YOLOv12 authors' fork of ultralytics (checkpoint ``version`` 8.3.63). Its pickled ``AAttn``
(area-attention) modules hold two projections, ``qk`` (dim -> 2*C, queries then keys, head-major) and
``v`` (dim -> C), plus a 5x5 depth-wise ``pe``. The ``AAttn`` in ultralytics 8.4 expects one fused
``qkv`` projection whose output channels are interleaved per head (``[q_h, k_h, v_h]`` for each head
``h``). The class names match, so ``torch.load`` succeeds, but the first forward pass fails with
``AttributeError: 'AAttn' object has no attribute 'qkv'``.

The two layouts compute the same function (softmax(q^T k / sqrt(d)) applied to v, plus ``pe(v)``,
then ``proj``), so the shim rewrites the weights instead of the code: on unpickling, a legacy
``AAttn`` has its ``qk`` and ``v`` convolutions (and their batch-norms) concatenated and re-ordered
into one ``qkv`` convolution. The converted model is an ordinary 8.4 model, so it also fuses and
exports (ONNX, TensorRT) like any other. ``pe`` keeps its own 5x5 kernel; the 8.4 forward applies it
to ``v`` in the same place the fork did.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

_INSTALLED_ATTR = "_floorwatch_legacy_aattn_shim"


def _qkv_order(num_heads: int, head_dim: int) -> torch.Tensor:
    """Index that takes rows [q(0..C), k(C..2C), v(2C..3C)] to the per-head [q_h, k_h, v_h] layout."""
    c = num_heads * head_dim
    order = [
        part * c + h * head_dim + d for h in range(num_heads) for part in range(3) for d in range(head_dim)
    ]
    return torch.tensor(order, dtype=torch.long)


def _merge_conv(qk: Any, v: Any, order: torch.Tensor) -> nn.Module:
    """Build one ultralytics ``Conv`` equal to ``qk`` and ``v`` stacked, with rows re-ordered."""
    from ultralytics.nn.modules.conv import Conv

    src_conv: nn.Conv2d = qk.conv
    out_channels = src_conv.out_channels + v.conv.out_channels
    merged = Conv(src_conv.in_channels, out_channels, 1, act=False)
    weight = torch.cat([qk.conv.weight.data, v.conv.weight.data])[order]
    merged.conv = nn.Conv2d(src_conv.in_channels, out_channels, 1, bias=src_conv.bias is not None)
    merged.conv.weight = nn.Parameter(weight)
    if src_conv.bias is not None:  # already fused checkpoints carry the batch-norm in the bias
        merged.conv.bias = nn.Parameter(torch.cat([qk.conv.bias.data, v.conv.bias.data])[order])
    if hasattr(qk, "bn"):
        bn = nn.BatchNorm2d(out_channels, eps=qk.bn.eps, momentum=qk.bn.momentum)
        for name in ("weight", "bias"):
            getattr(bn, name).data = torch.cat([getattr(qk.bn, name).data, getattr(v.bn, name).data])[order]
        for name in ("running_mean", "running_var"):
            setattr(bn, name, torch.cat([getattr(qk.bn, name), getattr(v.bn, name)])[order])
        bn.num_batches_tracked = qk.bn.num_batches_tracked.clone()
        merged.bn = bn
    else:
        del merged.bn
        merged.forward = merged.forward_fuse  # type: ignore[method-assign]
    return merged.to(dtype=weight.dtype).train(qk.training)


def convert_legacy_aattn(module: Any) -> bool:
    """Rewrite one fork-style ``AAttn`` (``qk`` + ``v``) in place into the fused ``qkv`` layout.

    Args:
        module: An ``AAttn`` instance, legacy or current.

    Returns:
        True when the module was converted, False when it was already in the current layout.
    """
    modules = module._modules
    if "qk" not in modules or "v" not in modules or "qkv" in modules:
        return False
    num_heads: int = module.num_heads
    head_dim: int = module.head_dim
    qkv = _merge_conv(modules["qk"], modules["v"], _qkv_order(num_heads, head_dim))
    del modules["qk"], modules["v"]
    module.all_head_dim = num_heads * head_dim
    # keep the attribute order of the current class (qkv, proj, pe) for readable printing
    rest = dict(modules)
    modules.clear()
    modules["qkv"] = qkv
    modules.update(rest)
    return True


def install_yolov12_compat() -> None:
    """Make every later ``torch.load`` of a fork-style YOLOv12 checkpoint produce a working model.

    Idempotent. Wraps ``ultralytics.nn.modules.block.AAttn.__setstate__`` (which already exists to
    upgrade older checkpoints) so the conversion happens while the checkpoint is unpickled, before
    ultralytics fuses or moves the model. Call after :func:`floorwatch.runtime.configure_offline`.
    """
    from ultralytics.nn.modules.block import AAttn

    if getattr(AAttn, _INSTALLED_ATTR, False):
        return
    original = AAttn.__setstate__

    def __setstate__(self: Any, state: dict[str, Any]) -> None:
        original(self, state)
        convert_legacy_aattn(self)

    AAttn.__setstate__ = __setstate__  # type: ignore[method-assign]
    setattr(AAttn, _INSTALLED_ATTR, True)
