"""Batches by token count with length bucketing: sentences of similar length share a batch, so little padding."""

from __future__ import annotations

import torch


def token_batches(
    src_lens: list[int], tgt_lens: list[int], max_tokens: int, generator: torch.Generator | None = None
) -> list[list[int]]:
    """Index lists whose padded size (count x longest side) stays within ``max_tokens``.

    With a generator, ties in length are broken randomly and the batch order is shuffled; the batch count does not
    depend on the generator (it is fixed by the multiset of lengths).
    """
    n = len(src_lens)
    order = torch.randperm(n, generator=generator).tolist() if generator is not None else list(range(n))
    order.sort(key=lambda i: (tgt_lens[i], src_lens[i]))  # stable: random tie order
    batches, current, longest = [], [], 0
    for i in order:
        size = max(src_lens[i], tgt_lens[i])
        if current and max(longest, size) * (len(current) + 1) > max_tokens:
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, size)
    if current:
        batches.append(current)
    if generator is not None:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


def pad(seqs: list[list[int]], pad_id: int) -> torch.Tensor:
    out = torch.full((len(seqs), max(map(len, seqs))), pad_id, dtype=torch.long)
    for row, seq in enumerate(seqs):
        out[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return out
