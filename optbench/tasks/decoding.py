"""Batched generation: incremental greedy decoding, beam search with a GNMT length penalty, and a naive greedy
decoder that re-runs the whole decoder on the prefix each step (a reference for tests and benchmarks).

Every function returns, per source sentence, the generated token ids without BOS and EOS.
"""

from __future__ import annotations

import torch
from torch import Tensor

from optbench.tasks.transformer import Seq2SeqTransformer


def max_output_len(src: Tensor, pad_id: int, a: float, b: int) -> int:
    return int((src != pad_id).sum(1).max().item() * a + b)


def _strip(rows: list[list[int]], eos: int) -> list[list[int]]:
    return [row[: row.index(eos)] if eos in row else row for row in rows]


@torch.no_grad()
def greedy_decode(model: Seq2SeqTransformer, src: Tensor, bos: int, eos: int, max_len: int) -> list[list[int]]:
    """Greedy search, one token per step, with cached keys/values (encoder output computed once)."""
    memory, src_mask = model.encode(src)
    cache = model.new_cache()
    token = torch.full((src.size(0), 1), bos, dtype=torch.long, device=src.device)
    done = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)
    out = []
    for step in range(max_len):
        logits = model.decode(token, memory, src_mask, cache=cache, start=step)[:, -1]
        token = logits.argmax(-1, keepdim=True).masked_fill(done.unsqueeze(1), eos)
        out.append(token)
        done |= token.squeeze(1) == eos
        if done.all():
            break
    return _strip(torch.cat(out, 1).tolist(), eos)


@torch.no_grad()
def naive_greedy_decode(model: Seq2SeqTransformer, src: Tensor, bos: int, eos: int, max_len: int) -> list[list[int]]:
    """Greedy search that recomputes the encoder and the full decoder prefix every step (no caching)."""
    prefix = torch.full((src.size(0), 1), bos, dtype=torch.long, device=src.device)
    done = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        token = model(src, prefix)[:, -1].argmax(-1, keepdim=True).masked_fill(done.unsqueeze(1), eos)
        prefix = torch.cat([prefix, token], 1)
        done |= token.squeeze(1) == eos
        if done.all():
            break
    return _strip(prefix[:, 1:].tolist(), eos)


def length_penalty(length: int, alpha: float) -> float:
    """GNMT (Wu et al. 2016): ((5 + length) / 6) ** alpha; alpha = 0 ranks by total log-probability."""
    return ((5.0 + length) / 6.0) ** alpha


@torch.no_grad()
def beam_search(
    model: Seq2SeqTransformer, src: Tensor, bos: int, eos: int, max_len: int, beam: int = 4, alpha: float = 0.6
) -> list[list[int]]:
    """Batched beam search. A hypothesis ends when EOS ranks among the top ``beam`` candidates; a sentence is done
    once it has ``beam`` ended hypotheses; the best by log-probability / length_penalty is returned."""
    batch, k = src.size(0), beam
    memory, src_mask = model.encode(src)
    memory, src_mask = memory.repeat_interleave(k, 0), src_mask.repeat_interleave(k, 0)
    cache = model.new_cache()
    tokens = torch.full((batch * k, 1), bos, dtype=torch.long, device=src.device)
    scores = torch.full((batch, k), float("-inf"), device=src.device)
    scores[:, 0] = 0.0  # all beams start identical: keep one alive
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
    done = [False] * batch
    for step in range(max_len):
        logp = model.decode(tokens[:, -1:], memory, src_mask, cache=cache, start=step)[:, -1].float().log_softmax(-1)
        vocab = logp.size(-1)
        cand = (scores.view(-1, 1) + logp).view(batch, k * vocab)
        top_scores, top_idx = cand.topk(2 * k, dim=1)
        top_beam, top_tok = (top_idx // vocab).tolist(), (top_idx % vocab).tolist()
        top_scores_l = top_scores.tolist()
        new_order, new_tokens, new_scores = [], [], []
        last = step == max_len - 1
        for b in range(batch):
            alive = []
            for rank in range(2 * k):
                if len(alive) == k:
                    break
                beam_i, tok, score = top_beam[b][rank], top_tok[b][rank], top_scores_l[b][rank]
                if done[b] or score == float("-inf"):
                    alive.append((beam_i, eos if done[b] else tok, score))
                    continue
                if tok == eos or last:
                    if rank < k:  # EOS counts only among the top k candidates
                        prefix = tokens[b * k + beam_i, 1:].tolist() + ([] if tok == eos else [tok])
                        finished[b].append((score / length_penalty(len(prefix) + 1, alpha), prefix))
                    if tok == eos:
                        continue
                alive.append((beam_i, tok, score))
            while len(alive) < k:
                alive.append((0, eos, float("-inf")))
            if not done[b] and len(finished[b]) >= k:
                done[b] = True
            for beam_i, tok, score in alive:
                new_order.append(b * k + beam_i)
                new_tokens.append(tok)
                new_scores.append(score if not done[b] else float("-inf"))
        if all(done) or last:
            break
        order = torch.tensor(new_order, device=src.device)
        tokens = torch.cat([tokens[order], torch.tensor(new_tokens, device=src.device).unsqueeze(1)], 1)
        scores = torch.tensor(new_scores, device=src.device).view(batch, k)
        for layer_cache in cache:
            for key in ("self_k", "self_v"):
                layer_cache[key] = layer_cache[key][order]
    return [max(hyps, key=lambda h: h[0])[1] if hyps else [] for hyps in finished]
