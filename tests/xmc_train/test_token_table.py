"""The study's token tables come from the data layer's cache and hold exactly what the tokenizer gives.

Proves: ids and lengths equal a direct ``tokenizer(..., padding="max_length", truncation=True)`` call on texts that
are truncated, empty and non-ASCII; a second call hits the cache. Does not prove anything about other tokenizers.
"""
from __future__ import annotations

import torch

from workbench.xmc_train.encoders import get_encoder, tokenize


def test_token_table_matches_tokenizer(tmp_path):
    tok = get_encoder("tiny", 0).tokenizer
    texts = ["libc6 shared library", "a much longer package description " * 10, "", "Ünïcode\ttabs  and  spaces"]
    want = tok(texts, max_length=12, truncation=True, padding="max_length", return_tensors="pt")
    t = tokenize(tok, texts, 12, cache_dir=tmp_path)
    assert t.ids.dtype == torch.int32 and torch.equal(t.ids, want["input_ids"].to(torch.int32))
    assert torch.equal(t.lengths, want["attention_mask"].sum(1))
    files = sorted(p.name for p in tmp_path.iterdir())
    again = tokenize(tok, texts, 12, cache_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == files and torch.equal(again.ids, t.ids)


def test_embed_all_in_length_order_returns_rows_in_their_own_order():
    """embed_all encodes length-sorted chunks (less padding) and must put every embedding back on its row:
    compared with each text encoded alone (no padding at all). Does not prove bf16 agreement on a GPU."""
    from workbench.xmc_train.models import XMCModel
    enc = get_encoder("tiny", 0)
    texts = ["a", "libc6 shared library for the gnu c", "x y", "python3 numpy arrays", "", "zlib compression lib"] * 3
    table = tokenize(enc.tokenizer, texts, 12)
    m = XMCModel(enc, table, table, encode_batch=4)
    enc.eval()
    with torch.no_grad():
        alone = torch.cat([enc(*table.batch(torch.tensor([i]), torch.device("cpu"))) for i in range(len(texts))])
    torch.testing.assert_close(m.embed_all(table), alone, atol=1e-5, rtol=1e-4)
    rows = torch.tensor([5, 1, 1, 0])
    torch.testing.assert_close(m.embed_all(table, rows), alone[rows], atol=1e-5, rtol=1e-4)
