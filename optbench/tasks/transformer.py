"""Encoder-decoder Transformer (Vaswani et al. 2017) with shared embeddings, sinusoidal positions, and an
incremental decoder: during generation each step feeds one token and reuses cached keys and values.

Masks are boolean, True where attention is allowed. ``src_mask`` has shape (B, 1, 1, S).

Attention goes through ``scaled_dot_product_attention``; ``attention`` picks its kernel. ``auto`` leaves the choice
to PyTorch on CUDA and takes the math kernel on the CPU: for sentence-length sequences with padding masks, the CPU
flash kernel's backward pass cost about a third of each training step here, and the math kernel made bf16-mixed
training about 1.3x faster (``python scripts/bench.py precision``). Every kernel computes the same attention.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

Cache = list[dict[str, Tensor]]  # one dict per decoder layer: self-attention and cross-attention keys/values

ATTENTION_KERNELS = {
    "math": SDPBackend.MATH,
    "flash": SDPBackend.FLASH_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
}


def attention_kernels(name: str, device: torch.device) -> list[SDPBackend] | None:
    """The SDPA kernels ``name`` allows on ``device``; None = PyTorch's own choice."""
    if name == "auto":
        return None if device.type == "cuda" else [SDPBackend.MATH]
    if name not in ATTENTION_KERNELS:
        raise ValueError(f"attention={name!r}; choose auto or one of {', '.join(ATTENTION_KERNELS)}")
    return [ATTENTION_KERNELS[name]]


def sinusoids(max_len: int, d_model: int) -> Tensor:
    position = torch.arange(max_len).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div)
    return table


class Attention(nn.Module):
    def __init__(self, d_model: int, heads: int, dropout: float, kernel: str = "auto") -> None:
        super().__init__()
        self.heads, self.dropout, self.kernel = heads, dropout, kernel
        attention_kernels(kernel, torch.device("cpu"))  # a bad name fails when the model is built
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def _split(self, x: Tensor) -> Tensor:  # (B, T, D) -> (B, H, T, D/H)
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    def forward(
        self,
        x: Tensor,
        memory: Tensor | None = None,
        mask: Tensor | None = None,
        cache: dict[str, Tensor] | None = None,
        prefix: str = "self",
    ) -> Tensor:
        """Self-attention when ``memory`` is None, else attention over ``memory``.

        With ``cache``: self-attention appends this step's keys/values to the cached ones; cross-attention computes
        the memory's keys/values once and reuses them.
        """
        q = self._split(self.q(x))
        if cache is not None and f"{prefix}_k" in cache and memory is not None:
            k, v = cache[f"{prefix}_k"], cache[f"{prefix}_v"]
        else:
            k, v = (self._split(t) for t in self.kv(x if memory is None else memory).chunk(2, dim=-1))
            if cache is not None:
                if memory is None and f"{prefix}_k" in cache:
                    k = torch.cat([cache[f"{prefix}_k"], k], dim=2)
                    v = torch.cat([cache[f"{prefix}_v"], v], dim=2)
                cache[f"{prefix}_k"], cache[f"{prefix}_v"] = k, v
        kernels = attention_kernels(self.kernel, q.device)
        with sdpa_kernel(kernels) if kernels else contextlib.nullcontext():
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
            )
        return self.out(y.transpose(1, 2).flatten(2))


class FeedForward(nn.Sequential):
    def __init__(self, d_model: int, ffn: int, dropout: float) -> None:
        inner = [nn.Dropout(dropout)] if dropout > 0 else []
        super().__init__(nn.Linear(d_model, ffn), nn.ReLU(), *inner, nn.Linear(ffn, d_model))


class Sublayer(nn.Module):
    """Residual around ``fn`` with LayerNorm before (pre-LN) or after (post-LN) it."""

    def __init__(self, d_model: int, dropout: float, pre_norm: bool) -> None:
        super().__init__()
        self.norm, self.drop, self.pre_norm = nn.LayerNorm(d_model), nn.Dropout(dropout), pre_norm

    def forward(self, x: Tensor, fn) -> Tensor:
        if self.pre_norm:
            return x + self.drop(fn(self.norm(x)))
        return self.norm(x + self.drop(fn(x)))


class EncoderLayer(nn.Module):
    def __init__(self, d_model, heads, ffn, dropout, attn_dropout, relu_dropout, pre_norm, kernel) -> None:
        super().__init__()
        self.attn = Attention(d_model, heads, attn_dropout, kernel)
        self.ff = FeedForward(d_model, ffn, relu_dropout)
        self.sub1, self.sub2 = (Sublayer(d_model, dropout, pre_norm) for _ in range(2))

    def forward(self, x: Tensor, src_mask: Tensor) -> Tensor:
        x = self.sub1(x, lambda h: self.attn(h, mask=src_mask))
        return self.sub2(x, self.ff)


class DecoderLayer(nn.Module):
    def __init__(self, d_model, heads, ffn, dropout, attn_dropout, relu_dropout, pre_norm, kernel) -> None:
        super().__init__()
        self.self_attn, self.cross_attn = (Attention(d_model, heads, attn_dropout, kernel) for _ in range(2))
        self.ff = FeedForward(d_model, ffn, relu_dropout)
        self.sub1, self.sub2, self.sub3 = (Sublayer(d_model, dropout, pre_norm) for _ in range(3))

    def forward(self, x, memory, src_mask, causal_mask, cache: dict[str, Tensor] | None = None) -> Tensor:
        x = self.sub1(x, lambda h: self.self_attn(h, mask=causal_mask, cache=cache, prefix="self"))
        x = self.sub2(x, lambda h: self.cross_attn(h, memory=memory, mask=src_mask, cache=cache, prefix="cross"))
        return self.sub3(x, self.ff)


class Seq2SeqTransformer(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        pad_id: int,
        d_model: int = 256,
        heads: int = 4,
        enc_layers: int = 3,
        dec_layers: int = 3,
        ffn: int = 1024,
        dropout: float = 0.1,
        attn_dropout: float = 0.0,
        relu_dropout: float = 0.0,
        pre_norm: bool = True,
        max_len: int = 512,
        attention: str = "auto",
    ) -> None:
        """``dropout`` applies to embeddings and residual branches; attention and ReLU dropout default to 0 as in
        tensor2tensor's transformer_base. ``attention`` names the SDPA kernel (see the module docstring)."""
        super().__init__()
        self.pad_id, self.d_model = pad_id, d_model
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)  # shared: source, target, output
        self.register_buffer("positions", sinusoids(max_len, d_model), persistent=False)
        self.drop = nn.Dropout(dropout)
        args = (d_model, heads, ffn, dropout, attn_dropout, relu_dropout, pre_norm, attention)
        self.encoder = nn.ModuleList(EncoderLayer(*args) for _ in range(enc_layers))
        self.decoder = nn.ModuleList(DecoderLayer(*args) for _ in range(dec_layers))
        self.enc_norm = nn.LayerNorm(d_model) if pre_norm else nn.Identity()
        self.dec_norm = nn.LayerNorm(d_model) if pre_norm else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for name, p in self.named_parameters():
            if p.dim() > 1 and name != "embed.weight":
                nn.init.xavier_uniform_(p)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
        nn.init.normal_(self.embed.weight, std=self.d_model**-0.5)
        with torch.no_grad():
            self.embed.weight[self.pad_id].zero_()

    def _embed(self, tokens: Tensor, start: int = 0) -> Tensor:
        x = self.embed(tokens) * math.sqrt(self.d_model)
        return self.drop(x + self.positions[start : start + tokens.size(1)])

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        src_mask = (src != self.pad_id)[:, None, None, :]
        x = self._embed(src)
        for layer in self.encoder:
            x = layer(x, src_mask)
        return self.enc_norm(x), src_mask

    def decode(
        self, tgt_in: Tensor, memory: Tensor, src_mask: Tensor, cache: Cache | None = None, start: int = 0
    ) -> Tensor:
        """Logits for ``tgt_in`` (B, T). With ``cache``, ``tgt_in`` continues a prefix of length ``start``."""
        t = tgt_in.size(1)
        causal = None
        if t > 1:
            causal = torch.ones(t, t, dtype=torch.bool, device=tgt_in.device).tril()
            if start:
                causal = torch.cat([torch.ones(t, start, dtype=torch.bool, device=tgt_in.device), causal], dim=1)
        x = self._embed(tgt_in, start)
        for i, layer in enumerate(self.decoder):
            x = layer(x, memory, src_mask, causal, None if cache is None else cache[i])
        return self.dec_norm(x) @ self.embed.weight.T

    def new_cache(self) -> Cache:
        return [{} for _ in self.decoder]

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        memory, src_mask = self.encode(src)
        return self.decode(tgt_in, memory, src_mask)
