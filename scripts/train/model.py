"""The model: a Llama-shaped BitNet b1.58 (bitnet-b1.58 graph, as microsoft/bitnet-b1.58-2B-4T).

RMSNorm -> BitLinear q,k,v -> NEOX RoPE -> attention (explicit mask) -> attn_sub_norm -> o_proj -> residual;
RMSNorm -> relu(gate)^2 * up -> ffn_sub_norm -> down_proj -> residual; tied embeddings as the head.
BitLinear: per-tensor absmean ternary weights and per-token int8 absmax activations, both with
straight-through gradients, in one autograd Function (a trial found Functions 6x faster than the
x + (q - x).detach() idiom; one fused Function also saves only the int8/ternary codes for backward).
Every attention takes an explicit boolean mask [B, L, L] (True = may attend) and explicit positions, so one
forward serves causal packing, the block-diffusion layout and cached decoding alike.
"""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab_size: int
    dim: int = 256
    n_layers: int = 6
    n_heads: int = 4
    n_kv_heads: int = 4
    ffn_dim: int = 640
    rms_eps: float = 1e-5
    rope_theta: float = 10000.0
    max_pos: int = 2048

    @property
    def head_dim(self):
        return self.dim // self.n_heads

    def to_dict(self):
        return asdict(self)


def ternarise(w):
    """(codes in {-1, 0, 1}, s): w ~ codes * s with s = mean|w| per tensor (what the converter does)."""
    s = w.abs().mean().clamp(min=1e-6)
    return (w / s).round_().clamp_(-1, 1), s


def quantise_activations(x):
    """(int8 codes, scale) per token: codes = clamp(round(x * scale), -128, 127), scale = 127 / max|x|."""
    scale = 127.0 / x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    return (x * scale).round_().clamp_(-128, 127), scale


class BitLinearFn(torch.autograd.Function):
    """y = (xq @ wq^T) * s / scale, straight-through gradients for both quantisers.

    The codes are small integers, exact in bfloat16, so the matmuls run in bf16 (oneDNN, about 2-3x
    faster than f32 on this CPU) with f32 accumulation; only the output rounds to bf16 (2^-9 relative).
    Backward (STE: d quant(v) / dv = 1): dx = dy @ (wq s); dW = sum_t dy_t^T (xq_t / scale_t).
    """

    @staticmethod
    def forward(ctx, x, w):
        wq, s = ternarise(w)
        xq, scale = quantise_activations(x)
        wq, xq = wq.to(torch.bfloat16), xq.to(torch.bfloat16)
        ctx.save_for_backward(xq, scale, wq, s)
        return torch.matmul(xq, wq.t()).float().mul_(s / scale)

    @staticmethod
    def backward(ctx, gy):
        xq, scale, wq, s = ctx.saved_tensors
        gx = torch.matmul(gy.to(torch.bfloat16), wq).float().mul_(s)
        g2 = (gy / scale).to(torch.bfloat16).reshape(-1, gy.shape[-1])
        gw = torch.matmul(g2.t(), xq.reshape(-1, xq.shape[-1])).float()
        return gx, gw


class BitLinear(nn.Linear):
    def __init__(self, n_in, n_out):
        super().__init__(n_in, n_out, bias=False)

    def forward(self, x):
        return BitLinearFn.apply(x, self.weight)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(cfg, pos):
    """cos, sin [B, L, head_dim] for integer positions pos [B, L] (NEOX: halves, not pairs)."""
    half = cfg.head_dim // 2
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(half, dtype=torch.float32, device=pos.device) / half))
    ang = pos.float()[..., None] * inv  # [B, L, half]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos(), ang.sin()


def apply_rope(x, cos, sin):
    """x [B, H, L, hd]; rotate-half: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin)."""
    h = x.shape[-1] // 2
    rot = torch.cat([-x[..., h:], x[..., :h]], dim=-1)
    return x * cos[:, None] + rot * sin[:, None]


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        hd = cfg.head_dim
        self.q_proj = BitLinear(cfg.dim, cfg.n_heads * hd)
        self.k_proj = BitLinear(cfg.dim, cfg.n_kv_heads * hd)
        self.v_proj = BitLinear(cfg.dim, cfg.n_kv_heads * hd)
        self.o_proj = BitLinear(cfg.n_heads * hd, cfg.dim)
        self.attn_sub_norm = RMSNorm(cfg.dim, cfg.rms_eps)

    def forward(self, x, cos, sin, bias, cache=None):
        """x [B, L, D]; bias [B, 1, L, Lk] additive (0 / -inf); cache: (k, v) of earlier tokens or None."""
        B, L, _ = x.shape
        c = self.cfg
        hd = c.head_dim
        q = self.q_proj(x).view(B, L, c.n_heads, hd).transpose(1, 2)
        k = self.k_proj(x).view(B, L, c.n_kv_heads, hd).transpose(1, 2)
        v = self.v_proj(x).view(B, L, c.n_kv_heads, hd).transpose(1, 2)
        q = apply_rope(q, cos, sin)
        k = apply_rope(k, cos, sin)
        if cache is not None:
            k = torch.cat([cache[0], k], dim=2)
            v = torch.cat([cache[1], v], dim=2)
        new_cache = (k, v)
        if c.n_kv_heads != c.n_heads:
            rep = c.n_heads // c.n_kv_heads
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        if x.is_cuda:  # the fused kernel (same arithmetic up to rounding); the CPU keeps the explicit form
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        else:
            att = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(hd)) + bias
            y = torch.matmul(torch.softmax(att, dim=-1), v)
        y = y.transpose(1, 2).reshape(B, L, c.n_heads * hd)
        return self.o_proj(self.attn_sub_norm(y)), new_cache


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.gate_proj = BitLinear(cfg.dim, cfg.ffn_dim)
        self.up_proj = BitLinear(cfg.dim, cfg.ffn_dim)
        self.down_proj = BitLinear(cfg.ffn_dim, cfg.dim)
        self.ffn_sub_norm = RMSNorm(cfg.ffn_dim, cfg.rms_eps)

    def forward(self, x):
        return self.down_proj(self.ffn_sub_norm(F.relu(self.gate_proj(x)).square() * self.up_proj(x)))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.dim, cfg.rms_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.dim, cfg.rms_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, bias, cache=None):
        a, new_cache = self.self_attn(self.input_layernorm(x), cos, sin, bias, cache)
        x = x + a
        return x + self.mlp(self.post_attention_layernorm(x)), new_cache


class Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layers)])
        self.norm = RMSNorm(cfg.dim, cfg.rms_eps)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def hidden(self, tokens, pos, allowed, caches=None):
        """Final-normed hidden states [B, L, D]. allowed [B, L, Lk] bool (keys: cached then new tokens)."""
        bias = torch.zeros(allowed.shape, dtype=torch.float32, device=allowed.device).masked_fill_(~allowed, float("-inf"))[:, None]
        cos, sin = rope_tables(self.cfg, pos)
        x = self.embed_tokens(tokens)
        new_caches = []
        for i, layer in enumerate(self.layers):
            x, c = layer(x, cos, sin, bias, None if caches is None else caches[i])
            new_caches.append(c)
        return self.norm(x), new_caches

    def logits(self, h):
        return F.linear(h, self.embed_tokens.weight)

    def n_params(self):
        emb = self.embed_tokens.weight.numel()
        return emb, sum(p.numel() for p in self.parameters()) - emb
