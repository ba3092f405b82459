"""Compatibility shims that let mainline ultralytics run checkpoints saved by forks.

``yolov12_area_attention``: the YOLOv12 fork that trained ``helmet-detector`` saved its
area-attention layers (``AAttn``) with two 1x1 convolutions, ``qk`` (queries then keys,
``2C`` channels) and ``v`` (``C`` channels). Mainline ultralytics has one convolution
``qkv`` whose output is laid out per head: ``[q_h, k_h, v_h]`` for head ``h``. Both use a
BatchNorm without activation per output channel, so stacking the rows of the convolution
weights and the BatchNorm parameters in mainline's order gives exactly the same numbers:
the rest of the layer (attention, positional encoding on ``v``, projection) is the same.
"""
import torch

SHIMS = {}


def shim(name):
    def register(fn):
        SHIMS[name] = fn
        return fn
    return register


def apply(name, model):
    """Apply the shim called ``name`` to a loaded ``nn.Module``; returns how many layers changed."""
    if name not in SHIMS:
        raise KeyError(f"unknown shim {name!r}; known: {sorted(SHIMS)}")
    return SHIMS[name](model)


def _head_order(num_heads, head_dim, offsets):
    """Row indices that interleave blocks (q, k, v) head by head into mainline's layout."""
    rows = []
    for h in range(num_heads):
        for off in offsets:
            rows.extend(range(off + h * head_dim, off + (h + 1) * head_dim))
    return torch.tensor(rows)


@shim("yolov12_area_attention")
def yolov12_area_attention(model):
    from ultralytics.nn.modules.block import AAttn
    from ultralytics.nn.modules.conv import Conv
    changed = 0
    for module in model.modules():
        if not isinstance(module, AAttn) or hasattr(module, "qkv") or not hasattr(module, "qk"):
            continue
        qk, v = module.qk, module.v
        c = v.conv.out_channels
        order = _head_order(module.num_heads, module.head_dim, (0, c, 2 * c))
        qkv = Conv(qk.conv.in_channels, 3 * c, 1, act=False)
        with torch.no_grad():
            qkv.conv.weight.copy_(torch.cat([qk.conv.weight, v.conv.weight])[order])
            if qk.conv.bias is not None:  # a fused checkpoint carries the BatchNorm in the bias
                qkv.conv.bias = torch.nn.Parameter(torch.cat([qk.conv.bias, v.conv.bias])[order])
            if hasattr(qk, "bn"):
                for name in ("weight", "bias", "running_mean", "running_var"):
                    getattr(qkv.bn, name).copy_(torch.cat([getattr(qk.bn, name), getattr(v.bn, name)])[order])
                qkv.bn.eps, qkv.bn.momentum = qk.bn.eps, qk.bn.momentum
                qkv.bn.num_batches_tracked.copy_(qk.bn.num_batches_tracked)
            else:
                del qkv.bn
                qkv.forward = qkv.forward_fuse
        qkv.train(qk.training)
        qkv.to(qk.conv.weight.device, qk.conv.weight.dtype)
        module.qkv = qkv
        del module.qk, module.v
        changed += 1
    return changed
