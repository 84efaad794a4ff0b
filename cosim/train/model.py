"""The released ``hgrn_bit`` model in PyTorch, for training with straight-through estimators.

The forward pass computes what ``cosim.numerics.engines.FloatEngine`` computes
(design.md "Model semantics"): every projection is a BitLinear (RMSNorm with
its own weight, per-token absmax int8 activations, ternary weights scaled by
mean|W|), MLGRU in the ``released`` or ``paper`` form, and a GLU. The rounding
in both quantisers passes gradients straight through (``x + (q(x) - x).detach()``),
as the released training code does. Parameter names are the released tensor
names, so ``state_dict()`` is the checkpoint. The recurrence is a loop over
positions: for the short training windows of a tiny model it costs less than a
parallel scan would.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cosim.config.model import ModelConfig


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight."""

    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def straight_through(x: torch.Tensor, quantized: torch.Tensor) -> torch.Tensor:
    """``quantized`` forward, the identity's gradient backward."""
    return x + (quantized - x).detach()


class BitLinear(nn.Module):
    """RMSNorm, absmax int8 activations, ternary weights: (q @ W_t^T) / (s_x * s_w)."""

    def __init__(self, cols: int, rows: int, eps: float, std: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(rows, cols) * std)
        self.norm = RMSNorm(cols, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        s_x = 127 / x.abs().amax(-1, keepdim=True).clamp(min=1e-5)
        x = straight_through(x, (x * s_x).round().clamp(-128, 127) / s_x)
        mean_abs = self.weight.abs().mean().clamp(min=1e-5)
        w = straight_through(self.weight,
                             (self.weight / mean_abs).round().clamp(-1, 1) * mean_abs)
        return F.linear(x, w)


def recurrence(f: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """h_t = f_t * h_{t-1} + x_t over positions (dim 1), from h_0 = 0."""
    h = torch.zeros_like(x[:, 0])
    out = []
    for t in range(x.shape[1]):
        h = f[:, t] * h + x[:, t]
        out.append(h)
    return torch.stack(out, 1)


class MLGRU(nn.Module):
    """The token mixer of ``cfg.variant`` (``attn`` in the released names)."""

    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        h, eps, std = cfg.hidden_size, cfg.rms_norm_eps, cfg.init_std
        self.i_proj, self.f_proj, self.g_proj, self.o_proj = (
            BitLinear(h, h, eps, std) for _ in range(4))
        self.g_norm = RMSNorm(h, eps)
        self.paper = cfg.variant == "paper"
        self.bounded = not self.paper and cfg.use_lower_bound and layer > 0

    def forward(self, x: torch.Tensor, lb: torch.Tensor) -> torch.Tensor:
        f = torch.sigmoid(self.f_proj(x))
        i = F.silu(self.i_proj(x))
        g = self.g_proj(x)
        if self.paper:
            return self.o_proj(torch.sigmoid(g) * recurrence(f, (1 - f) * i))
        if self.bounded:
            f = lb + (1 - lb) * f
        h = recurrence(f, i * (1 - f))
        return self.o_proj(self.g_norm(g) * F.silu(h))


class GLU(nn.Module):
    """down_proj(SiLU(gate) * up), gate and up the halves of gate_proj (``mlp``)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        h, i, eps, std = cfg.hidden_size, cfg.intermediate, cfg.rms_norm_eps, cfg.init_std
        self.gate_proj = BitLinear(h, 2 * i, eps, std)
        self.down_proj = BitLinear(i, h, eps, std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_proj(x).chunk(2, -1)
        return self.down_proj(F.silu(gate) * up)


class Block(nn.Module):
    """h + MLGRU(RMSNorm(h)), then + GLU(RMSNorm(h))."""

    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.attn = MLGRU(cfg, layer)
        self.mlp_norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp = GLU(cfg)

    def forward(self, h: torch.Tensor, lb: torch.Tensor) -> torch.Tensor:
        h = h + self.attn(self.attn_norm(h), lb)
        return h + self.mlp(self.mlp_norm(h))


class Backbone(nn.Module):
    """Embeddings, lower bounds, blocks and the final norm (``model`` in the released names)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        nn.init.normal_(self.embeddings.weight, std=cfg.init_std)
        self.lower_bounds = nn.Parameter(torch.zeros(cfg.num_hidden_layers, cfg.hidden_size))
        self.layers = nn.ModuleList(Block(cfg, n) for n in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        soft = torch.softmax(self.lower_bounds, 0)
        lb = torch.cumsum(soft, 0) - soft[0]
        h = self.embeddings(tokens)
        for n, block in enumerate(self.layers):
            h = block(h, lb[n])
        return self.norm(h)


class HGRNBit(nn.Module):
    """Byte-level causal LM of the released layout: logits [batch, positions, vocab]."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.model = Backbone(cfg)
        self.lm_head = BitLinear(cfg.hidden_size, cfg.vocab_size, cfg.rms_norm_eps,
                                 cfg.init_std)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.model(tokens))
