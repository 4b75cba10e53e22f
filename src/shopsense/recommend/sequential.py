"""What next-item models share: sequences in, a score for every item out.

A sequential model reads a user's items oldest first and predicts the next one. Training
uses every position of every sequence at once (teacher forcing) with a full softmax over
the catalogue — the cross-entropy setting that Klenitskiy & Vasilev (RecSys 2023) and
Petrov & Macdonald (RecSys 2023) found strongest. `recommend` for a known user reads the
user's latest history; `recommend_session` scores an anonymous list of items, which is
what real-time serving needs.

Sequences are padded on the right, so with a causal network no real position ever looks
at padding. Item index 0 is the padding token; item i of the vocabulary is token i + 1.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from shopsense.data.views import Interactions
from shopsense.recommend import exported
from shopsense.recommend.base import top_k
from shopsense.recommend.neural import NeuralConfig, NeuralRecommender


@dataclass
class SequentialConfig(NeuralConfig):
    max_length: int = 50
    """Only a user's last `max_length` items are read (and trained on)."""
    hidden: int = 64
    """Width of item embeddings and hidden states."""
    dropout: float = 0.2
    """Dropout on embeddings and between layers."""


class SequentialRecommender(NeuralRecommender):
    """Base of models whose input is the user's item sequence (GRU4Rec, SASRec)."""

    Config = SequentialConfig
    config: SequentialConfig
    folds_in = True
    scores_histories = True  # the network reads any item sequence, trained on or not
    queries_are_costly = True
    exportable = True
    #: the exported graph has a fixed sequence width (recurrent networks are unrolled)
    export_fixed_width = False
    #: ONNX Runtime in place of the torch network when scoring (set by `load`), or None
    runtime_: exported.QueryRuntime | None = None

    # ----------------------------------------------------------------- the network
    @abstractmethod
    def _encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(batch, length) right-padded tokens -> (batch, length, hidden) states, causal."""

    @abstractmethod
    def _output_weights(self) -> torch.Tensor:
        """(n_items, hidden) vectors the final state is scored against."""

    # ----------------------------------------------------------------- data
    def _prepare(self, train: Interactions) -> None:
        cfg = self.config
        if cfg.max_length < 1 or cfg.hidden < 1 or not 0 <= cfg.dropout < 1:
            raise ValueError(f"{self.name}: need max_length >= 1, hidden >= 1 and 0 <= dropout < 1")
        self.runtime_ = None  # new weights: an exported file no longer matches them
        self._set_history(train)
        # Training windows: the last max_length + 1 items of each user with at least two.
        tokens, lengths = _right_padded(
            self.history_items_, self.history_indptr_, cfg.max_length + 1
        )
        keep = lengths >= 2
        self._train_tokens = tokens[keep]
        self._train_lengths = lengths[keep]
        if len(self._train_lengths) == 0:
            raise ValueError(f"{self.name}: no user has two or more events to learn from")

    def _set_history(self, data: Interactions) -> None:
        self.history_indptr_ = np.asarray(data.sequence_indptr, dtype=np.int64)
        self.history_items_ = np.asarray(data.item_idx, dtype=np.int64)
        self.popularity_ = data.item_popularity()

    def _history_changed(self, data: Interactions) -> None:
        self._set_history(data)

    def _batches(self, rng: np.random.Generator) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        order = rng.permutation(len(self._train_lengths))
        bs = self.config.batch_size
        for s in range(0, len(order), bs):
            rows = order[s : s + bs]
            lengths = self._train_lengths[rows]
            width = int(lengths.max())
            window = self._train_tokens[rows, :width]
            yield (
                torch.from_numpy(window).to(self.device_),
                torch.from_numpy(lengths).to(self.device_),
            )

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        window, lengths = batch
        inputs, targets = window[:, :-1], window[:, 1:]
        states = self._encode(inputs, lengths - 1)
        real = targets > 0
        logits = states[real] @ self._output_weights().T
        return F.cross_entropy(logits, targets[real] - 1)

    # ----------------------------------------------------------------- scoring
    def _scores_of_tokens(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Scores of every item after each sequence; empty sequences score by popularity."""
        scores = self._last_states(tokens, lengths) @ self._output_weights().T
        empty = lengths == 0
        if bool(empty.any()):
            popular = torch.from_numpy(self.popularity_).to(scores.device, scores.dtype)
            scores[empty] = popular
        return scores

    def _forward_scores(self, user_idx: torch.Tensor) -> torch.Tensor:
        users = user_idx.cpu().numpy()
        starts, ends = self.history_indptr_[users], self.history_indptr_[users + 1]
        tokens, lengths = _windows(self.history_items_, starts, ends, self.config.max_length)
        return self._scores_of_tokens(
            torch.from_numpy(tokens).to(self.device_), torch.from_numpy(lengths).to(self.device_)
        )

    def history_of(self, user_idx: int) -> np.ndarray:
        p = self.history_indptr_
        return self.history_items_[p[int(user_idx)] : p[int(user_idx) + 1]].copy()

    def _history_tokens(self, histories: Sequence[np.ndarray]) -> tuple[torch.Tensor, ...]:
        lengths = np.array([len(h) for h in histories], dtype=np.int64)
        ends = np.cumsum(lengths)
        items = np.concatenate(histories) if len(histories) else np.zeros(0, np.int64)
        tokens, lengths = _windows(items, ends - lengths, ends, self.config.max_length)
        return torch.from_numpy(tokens).to(self.device_), torch.from_numpy(lengths).to(self.device_)

    def _score_histories(self, histories: list[np.ndarray]) -> np.ndarray:
        return self._inference(self._scores_of_tokens, *self._history_tokens(histories))

    def _last_states(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The query after each sequence: from the exported network when one is attached."""
        runtime = self.runtime_
        if runtime is None or self.module_.training or torch.is_grad_enabled():
            return self._network_states(tokens, lengths)
        out = runtime.queries(tokens.cpu().numpy(), lengths.cpu().numpy())
        return torch.from_numpy(out).to(tokens.device)

    def _network_states(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The final hidden state after each sequence (zeros for an empty one), in torch."""
        states = self._encode(tokens, lengths.clamp(min=1))
        # gather, not fancy indexing by arange(len(...)): keeps the batch size symbolic
        # when the network is exported
        at = (lengths.clamp(min=1) - 1)[:, None, None].expand(-1, 1, states.shape[-1])
        last = states.gather(1, at).squeeze(1)
        return torch.where((lengths > 0)[:, None], last, torch.zeros_like(last))

    def item_embeddings(self) -> np.ndarray:
        return np.ascontiguousarray(self.item_vectors(), dtype=np.float32)

    def user_queries(self, user_idx: np.ndarray | Sequence[int]) -> np.ndarray:
        return self.history_queries([self.history_of(u) for u in np.asarray(user_idx)])

    def history_queries(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """The final hidden state after each history (zeros for an empty one)."""
        histories = [np.asarray(h, dtype=np.int64) for h in histories]
        return self._inference(self._last_states, *self._history_tokens(histories))

    def recommend_session(
        self, items: Sequence[str], k: int = 10, *, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (ids, scores) after an anonymous session of item ids, oldest first.

        Ids the model does not know are skipped; a session with no known item gets the
        most popular items.
        """
        idx = self.item_index(items, strict=False)
        idx = idx[idx >= 0].astype(np.int64)
        tokens, lengths = _windows(idx, np.array([0]), np.array([len(idx)]), self.config.max_length)
        self.module_.eval()
        with torch.no_grad():
            scores = self._scores_of_tokens(
                torch.from_numpy(tokens).to(self.device_),
                torch.from_numpy(lengths).to(self.device_),
            )
        scores_np = scores.float().cpu().numpy()
        if exclude_seen and len(idx):
            scores_np[0, idx] = -np.inf
        top, values = top_k(scores_np, min(k, self.n_items))
        return self._ids(top)[0], values[0]

    def item_vectors(self) -> np.ndarray:
        return self._output_weights().detach().float().cpu().numpy()

    # ----------------------------------------------------------------- compressed form
    def export(self, path: str | Path, *, int8: bool = True) -> dict[str, Any]:
        """Write the sequence-to-query network as ONNX (and int8) into the folder `path`,
        checked against torch; returns the parity report (see `shopsense.recommend.exported`)."""
        return exported.export(self, path, int8=int8)

    def use_runtime(self, path: str | Path, precision: str = "fp32") -> bool:
        """Score with the exported file in `path` for `precision` ("off": torch); returns
        whether an exported network is now in use."""
        self.runtime_ = exported.runtime_for(path, self.config.hidden, precision)
        return self.runtime_ is not None

    # ----------------------------------------------------------------- persistence
    def _state(self) -> dict[str, np.ndarray]:
        return {
            "history_indptr": self.history_indptr_,
            "history_items": self.history_items_,
            "popularity": self.popularity_,
        }

    def _set_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.history_indptr_ = np.asarray(arrays["history_indptr"], dtype=np.int64)
        self.history_items_ = np.asarray(arrays["history_items"], dtype=np.int64)
        self.popularity_ = np.asarray(arrays["popularity"], dtype=np.float32)


def _windows(
    items: np.ndarray, starts: np.ndarray, ends: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """The last `width` items of each [start, end) slice as right-padded tokens."""
    lengths = np.minimum(ends - starts, width).astype(np.int64)
    first = ends - lengths
    cols = max(int(lengths.max(initial=0)), 1)
    offsets = np.arange(cols)
    mask = offsets[None, :] < lengths[:, None]
    positions = np.where(mask, first[:, None] + offsets[None, :], 0)
    tokens = np.where(mask, items[positions] + 1 if len(items) else 0, 0).astype(np.int64)
    return tokens, lengths


def _right_padded(
    items: np.ndarray, indptr: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every user's last `width` items as right-padded tokens, in user order."""
    tokens, lengths = _windows(items, indptr[:-1], indptr[1:], width)
    if tokens.shape[1] < width:  # keep a fixed width so any batch can be sliced from it
        tokens = np.pad(tokens, ((0, 0), (0, width - tokens.shape[1])))
    return tokens, lengths


def end_aligned_positions(lengths: torch.Tensor, width: int, max_length: int) -> torch.Tensor:
    """Position ids counted from the end of each sequence (1 = last item, 0 = padding).

    SASRec pads on the left so that the latest item always sits at the same position; with
    right padding, counting positions from the end gives the network the same signal.
    """
    t = torch.arange(width, device=lengths.device)[None, :]
    from_end = lengths[:, None] - t
    return torch.where(from_end > 0, from_end.clamp(max=max_length), 0)


def causal_mask(width: int, device: torch.device) -> torch.Tensor:
    """Boolean (width, width) mask: True where attention is not allowed (the future)."""
    return torch.triu(torch.ones(width, width, dtype=torch.bool, device=device), diagonal=1)
