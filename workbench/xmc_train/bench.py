"""The bare-encoder reference the training loop's throughput is judged against: forward + backward of the
encoder alone on random token ids at a given batch and length (bf16 autocast on GPUs with native bf16), in
sequences/second."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..device import bf16_autocast, resolve_device
from ..timing import median_seconds

if TYPE_CHECKING:
    import pandas as pd

    from .study import NegativeMiningConfig


def throughput_against_bare(encoding: pd.DataFrame, cfg: NegativeMiningConfig) -> pd.DataFrame:
    """:func:`tables.throughput_table` of the training rows that encoded (``encoding``) against the bare encoder:
    each sampler's in-loop probes where every sampler has some (``bare_probe_every``: timed in turn with the
    loop), else one bare timing now, at ``cfg.batch_size`` and the rows' median padded length (capped at
    ``max_length``); the machine's load then may differ from the runs'."""
    from .encoders import get_encoder
    from .tables import throughput_table
    probed = encoding["bare_seqs_per_s"] > 0
    if probed.groupby(encoding["sampler"]).any().all():
        return throughput_table(encoding)
    length = max(1, min(cfg.max_length, round(encoding["seq_len"].median())))
    bare = encoder_throughput(get_encoder(cfg.encoder, cfg.seed, cfg.max_length), cfg.batch_size, length,
                              device=cfg.device)
    return throughput_table(encoding, bare["seqs_per_s"], length)


def encoder_throughput(encoder: torch.nn.Module, batch: int, length: int, steps: int = 5, warmup: int = 2,
                       device: str | torch.device = "auto", vocab: int = 1000, bf16: bool = True) -> dict:
    """Sequences per second of ``encoder`` forward + backward (sum of the embeddings as the loss; the encoder's
    gradients are cleared after each step). ``bf16``: autocast on a GPU with native bf16, as the training loop.

    Returns ``{"batch", "length", "seqs_per_s", "step_s"}``; ``step_s`` is the median of ``steps`` timed
    steps after ``warmup`` (synced on CUDA).
    """
    dev = resolve_device(device)
    encoder = encoder.to(dev).train()
    ids = torch.randint(5, vocab, (batch, length), generator=torch.Generator().manual_seed(0)).to(dev)
    mask = torch.ones_like(ids)
    autocast = bf16_autocast(dev, bf16)

    def step():
        with torch.autocast("cuda", torch.bfloat16, enabled=autocast):
            out = encoder(ids, mask)
        out.float().sum().backward()
        encoder.zero_grad(set_to_none=True)

    dt = median_seconds(step, dev, repeats=steps, warmup=warmup)
    return {"batch": batch, "length": length, "seqs_per_s": batch / dt, "step_s": dt}
