"""The trained models: a dual encoder and a one-vs-all classifier head over one shared text encoder.

``heads`` picks what is trained and scored:
- ``"de"``: dual encoder, score(q, l) = <enc(q), enc(label text l)> (cosines; the loss applies the temperature);
- ``"clf"``: one-vs-all classifier, score = <enc(q), w_l>, w (L, d) initialised from the label embeddings;
- ``"de+clf"``: both, trained together (UniDEC: L = 1/2 L_DE + 1/2 L_CLF); scored at inference by the fusion
  ``alpha * DE + (1 - alpha) * CLF`` (NGAME M-IV, UniDEC).
With ``freeze_encoder`` the encoder is never updated and its embeddings are computed once and cached, so a
classifier on frozen embeddings trains in seconds. With ``normalize_classifier`` (default) the classifier scores
with unit-normalised vectors, a cosine like the DE's: trained only against in-batch / pool negatives, raw vectors
of often-seen labels grow in norm and then outrank everything (a popularity bias measured on the Debian
subsample: P@1 fell to the most-popular level), and the fusion needs both scores on one scale.

``classifier_form`` says what a classifier row is: ``"free"`` (a learned vector w_l, initialised once from the
label's text embedding: NGAME M-IV, the BCE stage) or ``"residual"`` (w_l = enc(label text l) + delta_l, delta
learned from 0, so the row follows the encoder as it trains; DEXA's augmented label vectors). Residual matters
when the encoder and the classifier train together (UniDEC) and the encoder moves: from a random-init encoder on
the CPU default, free rows copied at step 0 stopped matching the queries (label embeddings' cosine to their
step-0 selves 0.5 after 8 steps; classifier P@1 28.7 -> 11.0 over 2 epochs, 2.0 with the rows never trained).
With residual rows the classifier ended at 31 and the fusion rose from 25.7 to 32.3 (means over seeds 0-2; the
default run, seed 0: fused 23.5 -> 34.5). A classifier-only model fares the same: free rows on the CPU default
(``heads="clf"``, 2 epochs from P@1 28.7) fell to 2.0 under the full BCE, 0.2 with in-batch negatives and BCE,
9.8 under the full softmax; with residual rows they ended at 28.5, 27.5 and 25.2; uniform / log-uniform / ANCE /
LSH negatives with BCE at 26.0 / 27.0 / 28.5 / 27.3, in-batch with the softmax at 31.8 (measured 2026-11-24). On a
frozen encoder the two are the same model. A residual classifier encodes the pool's label texts (with gradients)
at every step, as a DE does (free for a model that also has the DE head), and reads the stale label cache as the
DE does.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..device import native_bf16
from ..progress import tqdm
from ..xmc.encoder import BAR_MIN_BATCHES
from .encoders import TokenTable, to_device

HEADS = ("de", "clf", "de+clf")
CLASSIFIER_FORMS = ("free", "residual")


class XMCModel(nn.Module):
    """Encoder + heads over fixed token tables (train queries, labels)."""

    def __init__(self, encoder: nn.Module, queries: TokenTable, labels: TokenTable, heads: str = "de",
                 freeze_encoder: bool = False, encode_batch: int = 512, normalize_classifier: bool = True,
                 classifier_form: str = "free"):
        super().__init__()
        if heads not in HEADS:
            raise ValueError(f"Unrecognized heads: {heads!r}; known: {list(HEADS)}")
        if classifier_form not in CLASSIFIER_FORMS:
            raise ValueError(f"Unrecognized classifier_form: {classifier_form!r}; known: {list(CLASSIFIER_FORMS)}")
        self.encoder, self.queries, self.labels = encoder, queries, labels
        self.heads, self.freeze_encoder, self.encode_batch = heads, freeze_encoder, encode_batch
        self.head_names: tuple[str, ...] = tuple(heads.split("+"))  # "de+clf" -> ("de", "clf")
        self.normalize_classifier, self.classifier_form = normalize_classifier, classifier_form
        self.classifier = (nn.Parameter(torch.zeros(len(labels), encoder.dim,
                                                    device=next(encoder.parameters()).device))
                           if "clf" in heads else None)  # on the encoder's device, as a caller would expect
        # frozen embeddings per table, keyed by its ``lengths`` tensor (shared by the table's ``.to()`` copies, so
        # the trainer's device copy hits the cache); the entry holds that tensor, so its id cannot be reused
        self._frozen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        if freeze_encoder:
            encoder.requires_grad_(False)

    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    # ----- encoding -------------------------------------------------------------------------------------
    def encode(self, table: TokenTable, rows: torch.Tensor) -> torch.Tensor:
        """(len(rows), d) embeddings of ``table[rows]``; with gradients unless the encoder is frozen."""
        if len(rows) == 0:  # an in_batch pool when no query of the batch has a positive; BERT cannot reshape 0 rows
            return torch.zeros(0, self.encoder.dim, device=self.device)
        if self.freeze_encoder:
            return self.embed_all(table)[to_device(rows, self.device)]
        return self.encoder(*table.batch(rows, self.device))

    @torch.no_grad()
    def embed_all(self, table: TokenTable, rows: torch.Tensor | None = None) -> torch.Tensor:
        """(n, d) float32 embeddings of all (or ``rows`` of) ``table`` in eval mode, no gradients; bf16 autocast on
        a GPU with native bf16 whatever the trainer's ``bf16`` (label caches, evaluation, sampler refreshes)."""
        key = id(table.lengths)
        if self.freeze_encoder and key in self._frozen:
            out = self._frozen[key][1]
            return out if rows is None else out[to_device(rows, out.device)]
        rows_ = torch.arange(len(table)) if rows is None or self.freeze_encoder else rows.cpu()  # host-side order
        was = self.encoder.training
        self.encoder.eval()
        autocast = torch.autocast("cuda", torch.bfloat16) if native_bf16(self.device) else _null()
        # encoded in order of length, so each chunk is cut to a length close to its texts' (less padding)
        order = torch.argsort(table.lengths[rows_], stable=True)
        parts = order.split(self.encode_batch)
        with autocast:
            chunks = [self.encoder(*table.batch(rows_[o], self.device)).float()
                      for o in tqdm(parts, desc="encode", leave=False, disable=len(parts) < BAR_MIN_BATCHES)]
        out = torch.zeros(len(rows_), self.encoder.dim, device=self.device)
        if chunks:
            out[to_device(order, self.device)] = torch.cat(chunks)
        self.encoder.train(was)
        if self.freeze_encoder:
            self._frozen[key] = (table.lengths, out)
            return out if rows is None else out[to_device(rows, out.device)]
        return out

    @torch.no_grad()
    def init_classifier(self) -> None:
        """w_l <- the label's text embedding (the NGAME / UniDEC initialisation): a free row copies it, a
        residual row starts with delta_l = 0."""
        if self.classifier is None:
            return
        if self.classifier_form == "residual":
            self.classifier.zero_()
        else:
            self.classifier.copy_(self.embed_all(self.labels).to(self.classifier))

    # ----- scoring --------------------------------------------------------------------------------------
    def label_vectors(self, pool: torch.Tensor, cache: torch.Tensor | None = None,
                      fresh: torch.Tensor | None = None) -> torch.Tensor:
        """(C, d) DE label embeddings of ``pool``. With ``cache`` (L, d), rows not in ``fresh`` (C,) bool come
        from the gradient-free cache and only the ``fresh`` ones are encoded (stale negatives). ``pool`` and
        ``fresh`` are best given on the CPU, as the samplers make them: which rows to encode is then decided on
        the host, without waiting for the device."""
        if cache is None or fresh is None:
            return self.encode(self.labels, pool)
        pool, idx = pool.cpu(), fresh.cpu().nonzero().squeeze(1)
        out = cache[to_device(pool, cache.device)].to(torch.float32)
        if len(idx) == 0:
            return out
        return out.index_put((to_device(idx, out.device),), self.encode(self.labels, pool[idx]).to(out.dtype))

    def scores(self, q: torch.Tensor, pool: torch.Tensor, label_cache=None, fresh=None,
               heads: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """Per head, (B, C) raw scores of the batch's query embeddings ``q`` (B, d) against the ``pool``; only
        the ``heads`` named (default: all the model has), so a classifier-only stage with free rows encodes no
        label text."""
        out = {}
        want_de = "de" in self.head_names and (heads is None or "de" in heads)
        want_clf = self.classifier is not None and (heads is None or "clf" in heads)
        # a residual classifier reads the same label embeddings as the DE: encoded once for both heads
        e = self.label_vectors(pool, label_cache, fresh) if self.encodes_labels(heads) else None
        if want_de:
            out["de"] = q @ e.to(q.dtype).T
        if want_clf:
            out["clf"] = q @ self.classifier_vectors(pool, e).to(q.dtype).T
        return out

    def encodes_labels(self, heads: tuple[str, ...] | None = None) -> bool:
        """Whether scoring ``heads`` (default: all the model has) encodes label texts: the DE head does, and so does
        a residual classifier (its rows are label embeddings plus offsets)."""
        want = self.head_names if heads is None else heads
        return (("de" in self.head_names and "de" in want)
                or (self.classifier is not None and "clf" in want and self.classifier_form == "residual"))

    def classifier_vectors(self, ids: torch.Tensor | None = None,
                           label_emb: torch.Tensor | None = None) -> torch.Tensor:
        """(n, d) classifier vectors of ``ids`` (all when None), unit-normalised if ``normalize_classifier``. A
        residual classifier adds delta to ``label_emb`` (the rows' label embeddings; encoded without gradients
        when not given)."""
        w = self.classifier if ids is None else self.classifier[to_device(ids, self.classifier.device)]
        if self.classifier_form == "residual":
            if label_emb is None:
                label_emb = self.embed_all(self.labels, ids)
            w = label_emb.to(w.dtype) + w
        return F.normalize(w, dim=-1) if self.normalize_classifier else w

    # ----- the ModelView the samplers see -----------------------------------------------------------------
    def query_embeddings(self, ids: torch.Tensor | None = None) -> torch.Tensor:
        return self.embed_all(self.queries, ids)

    def label_embeddings(self, ids: torch.Tensor | None = None) -> torch.Tensor:
        """DE label embeddings (or the classifier vectors for a classifier-only model)."""
        if self.heads == "clf":
            return self.classifier_vectors(ids).detach().float()
        return self.embed_all(self.labels, ids)

    @torch.no_grad()
    def score_matrix_parts(self) -> dict[str, torch.Tensor]:
        """The label-side matrices for inference: ``{"de": (L, d), "clf": (L, d)}`` as present."""
        parts = {}
        if "de" in self.head_names:
            parts["de"] = self.embed_all(self.labels)
        if self.classifier is not None:
            parts["clf"] = self.classifier_vectors(None, parts.get("de")).detach().float()
        return parts


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False
