"""The study's token tables come from the data layer's cache and hold exactly what the tokenizer gives.

Proves: ids and lengths equal a direct ``tokenizer(..., padding="max_length", truncation=True)`` call on texts that
are truncated, empty and non-ASCII; a second call hits the cache; batches and token counts are decided from the
host copy of the lengths (never read back from the device). Does not prove anything about other tokenizers.
"""
from __future__ import annotations

import torch

from tests.conftest import only_cuda
from workbench.xmc_train.encoders import TokenTable, get_encoder, tokenize


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


def _table() -> TokenTable:
    ids = torch.arange(48, dtype=torch.int32).reshape(6, 8)
    return TokenTable(ids, torch.tensor([3, 8, 1, 5, 0, 2]))


def test_batch_and_token_counts_read_no_device_data():
    """A table moved to the ``meta`` device (shapes, no data: reading a value raises) still cuts batches and counts
    tokens, so on a GPU none of these waits for the device (each ``int()`` of a device tensor was a full
    synchronisation, several per training step). The CPU table gives the values."""
    table, rows = _table(), torch.tensor([0, 2, 3])
    ids, mask = table.batch(rows, torch.device("cpu"))
    assert torch.equal(ids, table.ids[rows, :5].long()) and mask.dtype == torch.long
    assert mask.sum(1).tolist() == [3, 1, 5] and mask[1].tolist() == [1, 0, 0, 0, 0]
    on_meta = table.to("meta")
    assert on_meta.ids.is_meta and on_meta.lengths.device.type == "cpu"
    ids_m, mask_m = on_meta.batch(rows, torch.device("meta"))
    assert ids_m.shape == mask_m.shape == (3, 5) and ids_m.dtype == mask_m.dtype == torch.long
    assert (on_meta.tokens(rows), on_meta.padded_tokens(rows)) == (9, 15)


@only_cuda
def test_batch_of_host_rows_on_the_gpu_does_not_synchronise():
    table, rows = _table(), torch.tensor([0, 2, 3])
    on_gpu = table.to("cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any synchronising CUDA call raises
    try:
        ids, mask = on_gpu.batch(rows, torch.device("cuda"))
        counts = on_gpu.tokens(rows), on_gpu.padded_tokens(rows)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    want_ids, want_mask = table.batch(rows, torch.device("cpu"))
    assert torch.equal(ids.cpu(), want_ids) and torch.equal(mask.cpu(), want_mask) and counts == (9, 15)
