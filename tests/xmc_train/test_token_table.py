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
