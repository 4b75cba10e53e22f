"""Review sentiment: is a review positive (1) or negative (0)?

One registered kind, "sentiment_classifier", with four model families (`kind`):

- "tfidf": TF-IDF over word uni+bigrams (jieba words for Chinese) and character 1-3-grams,
  then logistic regression - the strong linear baseline (Wang & Manning 2012, "Baselines and
  Bigrams"). Exported as vocabularies (JSON) + idf and coefficients (safetensors).
- "bilstm": a bidirectional LSTM over learned word embeddings, max- and mean-pooled
  (Graves & Schmidhuber 2005; for text classification e.g. Zhou et al. 2016);
- "textcnn": convolutions of widths 2-4 over word embeddings with max-over-time pooling
  (Kim 2014, "Convolutional Neural Networks for Sentence Classification"). Both neural
  kinds train on the shared `Trainer`, with early stopping on validation accuracy.
- "minilm": logistic regression on the bundled all-MiniLM-L6-v2 sentence embeddings
  (English only: MiniLM's word pieces know little Chinese).

    >>> model = SentimentClassifier(kind="bilstm").fit(texts, labels, val_texts, val_labels)
    >>> model.predict_proba(["物流很快，质量很好", "runs small, returned it"])
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
import torch
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import load_file as load_torch
from safetensors.torch import save_file as save_torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from torch import nn

from shopsense.estimator import Estimator, register
from shopsense.persist import atomic_write, read_model_json
from shopsense.reviews.tokenize import Tokenizer, Vocabulary
from shopsense.train.trainer import (
    Trainer,
    TrainerConfig,
    TrainResult,
    select_device,
    torch_threads,
)

KINDS = ("tfidf", "bilstm", "textcnn", "minilm")
NEURAL = ("bilstm", "textcnn")
CONFIG_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
VOCAB_FILE = "vocabulary.json"
LABELS = ("negative", "positive")


@dataclass
class SentimentConfig(TrainerConfig):
    """Hyper-parameters of every kind (the neural ones also use the trainer fields)."""

    kind: str = "tfidf"
    """"tfidf", "bilstm", "textcnn" or "minilm"."""
    chinese: str = "words"
    """How Chinese is cut: "words" (jieba) or "chars"."""
    inverse_l2: float = 3.0
    """Logistic regression's C (tfidf, minilm): larger fits the training data closer."""
    max_features: int = 200_000
    """tfidf: most word n-grams and most character n-grams kept (each)."""
    min_df: int = 2
    """tfidf: fewest training reviews an n-gram must appear in."""
    max_len: int = 160
    """Neural kinds: tokens read per review (longer ones keep head and tail)."""
    min_count: int = 2
    """Neural kinds: fewest occurrences of a word in the training reviews to get a vector."""
    max_vocab: int = 60_000
    """Neural kinds: largest vocabulary (padding and unknown included)."""
    embedding_size: int = 128
    """Neural kinds: size of a word vector."""
    hidden_size: int = 128
    """bilstm: state size per direction; textcnn: filters per width."""
    dropout: float = 0.3
    """Neural kinds: dropout on embeddings and on the pooled vector."""
    validation_share: float = 0.1
    """Neural kinds: share of the training reviews held out for early stopping when no
    validation reviews are given."""
    epochs: int = 8
    batch_size: int = 64
    learning_rate: float = 2e-3
    patience: int = 2
    clip_norm: float = 1.0
    threads: int = 1


# ============================================================================== networks
class _BiLSTM(nn.Module):
    def __init__(self, vocab: int, cfg: SentimentConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, cfg.embedding_size, padding_idx=0)
        self.rnn = nn.LSTM(
            cfg.embedding_size, cfg.hidden_size, batch_first=True, bidirectional=True
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(4 * cfg.hidden_size, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = ids != 0
        lengths = mask.sum(1).clamp(min=1)
        x = self.drop(self.embed(ids))
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        h, _ = self.rnn(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=ids.shape[1])
        m = mask.unsqueeze(-1)
        top = h.masked_fill(~m, -1e4).max(1).values
        mean = (h * m).sum(1) / lengths.unsqueeze(-1)
        return self.out(self.drop(torch.cat([top, mean], 1))).squeeze(-1)


class _TextCNN(nn.Module):
    WIDTHS = (2, 3, 4)

    def __init__(self, vocab: int, cfg: SentimentConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, cfg.embedding_size, padding_idx=0)
        self.convs = nn.ModuleList(
            nn.Conv1d(cfg.embedding_size, cfg.hidden_size, w, padding=w - 1) for w in self.WIDTHS
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(len(self.WIDTHS) * cfg.hidden_size, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.embed(ids)).transpose(1, 2)
        pooled = [torch.relu(conv(x)).max(2).values for conv in self.convs]
        return self.out(self.drop(torch.cat(pooled, 1))).squeeze(-1)


_NETWORKS: dict[str, type[nn.Module]] = {"bilstm": _BiLSTM, "textcnn": _TextCNN}


class _ReviewTask:
    """Batches of similar length (less padding), shuffled; validation = accuracy."""

    def __init__(
        self,
        module: nn.Module,
        ids: np.ndarray,
        labels: np.ndarray,
        val_ids: np.ndarray,
        val_labels: np.ndarray,
        cfg: SentimentConfig,
        device: torch.device,
    ) -> None:
        self.module, self.cfg, self.device = module, cfg, device
        self.ids, self.labels = ids, labels.astype(np.float32)
        self.lengths = (ids != 0).sum(1)
        self.val_ids, self.val_labels = val_ids, val_labels
        self.bce = nn.BCEWithLogitsLoss()

    def batches(self, rng: np.random.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for pick in _length_batches(self.lengths, self.cfg.batch_size, rng):
            width = max(int(self.lengths[pick].max()), 4)
            ids = torch.from_numpy(self.ids[pick, :width]).to(self.device)
            yield ids, torch.from_numpy(self.labels[pick]).to(self.device)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        ids, y = batch
        return self.bce(self.module(ids), y)

    def validate(self) -> float | None:
        if not len(self.val_ids):
            return None
        p = _score(self.module, self.val_ids, self.device, 512)
        return float(((p >= 0.5) == (self.val_labels == 1)).mean())


def _length_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Shuffle, sort chunks of 50 batches by length, cut into batches, shuffle the batches."""
    order = rng.permutation(len(lengths))
    chunk = 50 * batch_size
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    for b in rng.permutation(len(batches)):
        yield batches[b]


def _score(module: nn.Module, ids: np.ndarray, device: torch.device, batch: int) -> np.ndarray:
    """P(positive) of encoded rows, in input order (scored in length-sorted batches)."""
    lengths = (ids != 0).sum(1)
    order = np.argsort(lengths, kind="stable")
    out = np.empty(len(ids), dtype=np.float32)
    module.eval()
    with torch.no_grad():
        for start in range(0, len(ids), batch):
            pick = order[start : start + batch]
            width = max(int(lengths[pick].max()), 4)
            x = torch.from_numpy(ids[pick, :width]).to(device)
            out[pick] = torch.sigmoid(module(x)).float().cpu().numpy()
    return out


# ============================================================================== estimator
@register("sentiment_classifier")
class SentimentClassifier(Estimator):
    """Binary review sentiment of one `kind`; scikit-like: `fit` returns self, learned
    attributes end in `_`, `predict_proba(texts)` is P(positive) per text."""

    name = "sentiment_classifier"
    fitted_attribute = "n_train_"

    def __init__(self, kind: str = "tfidf", **params: Any) -> None:
        self.config = SentimentConfig(kind=kind, **params)

    @property
    def tokenizer(self) -> Tokenizer:
        return Tokenizer(chinese=self.config.chinese)

    # ----------------------------------------------------------------------------- fit
    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[int] | np.ndarray,
        val_texts: Sequence[str] | None = None,
        val_labels: Sequence[int] | np.ndarray | None = None,
    ) -> Self:
        """Learn from `texts` with `labels` (1 positive, 0 negative); the neural kinds stop
        early on `val_texts` (default: a seeded share of the training reviews)."""
        cfg = self.config
        if cfg.kind not in KINDS:
            raise ValueError(f"unknown kind {cfg.kind!r}; one of {KINDS}")
        texts = _texts(texts)
        y = np.asarray(labels, dtype=np.int64)
        if len(texts) != len(y):
            raise ValueError(f"{len(texts)} texts but {len(y)} labels")
        if not set(np.unique(y)) <= {0, 1}:
            raise ValueError("labels must be 0 (negative) or 1 (positive)")
        if len(np.unique(y)) < 2:
            raise ValueError("the training reviews need both positive and negative labels")
        began = time.perf_counter()
        self.train_result_: TrainResult | None = None
        if cfg.kind == "tfidf":
            self._fit_tfidf(texts, y)
        elif cfg.kind == "minilm":
            self._fit_minilm(texts, y)
        else:
            vt = None if val_texts is None else _texts(val_texts)
            vy = None if val_labels is None else np.asarray(val_labels, dtype=np.int64)
            self._fit_neural(texts, y, vt, vy)
        self.train_seconds_ = time.perf_counter() - began
        self.n_train_ = len(texts)
        return self

    def _logistic(self) -> LogisticRegression:
        return LogisticRegression(
            C=self.config.inverse_l2, max_iter=3000, random_state=self.config.random_state
        )

    def _fit_tfidf(self, texts: list[str], y: np.ndarray) -> None:
        cfg = self.config
        words = TfidfVectorizer(
            analyzer=_WordGrams(self.tokenizer),
            min_df=cfg.min_df,
            max_features=cfg.max_features,
            sublinear_tf=True,
            dtype=np.float32,
        )
        chars = TfidfVectorizer(
            analyzer="char",
            ngram_range=(1, 3),
            min_df=cfg.min_df,
            max_features=cfg.max_features,
            sublinear_tf=True,
            dtype=np.float32,
        )
        x = sp.hstack([words.fit_transform(texts), chars.fit_transform(texts)]).tocsr()
        self.vectorizers_ = (words, chars)
        lr = self._logistic().fit(x, y)
        self.coef_ = lr.coef_[0].astype(np.float32)
        self.intercept_ = float(lr.intercept_[0])

    def _fit_minilm(self, texts: list[str], y: np.ndarray) -> None:
        x = _embed(texts)
        lr = self._logistic().fit(x, y)
        self.coef_ = lr.coef_[0].astype(np.float32)
        self.intercept_ = float(lr.intercept_[0])

    def _fit_neural(
        self,
        texts: list[str],
        y: np.ndarray,
        val_texts: list[str] | None,
        val_y: np.ndarray | None,
    ) -> None:
        cfg = self.config
        tokens = self.tokenizer.batch(texts)
        if val_texts is None:
            rng = np.random.default_rng(cfg.random_state)
            held = rng.random(len(texts)) < cfg.validation_share
            val_tokens = [t for t, h in zip(tokens, held, strict=True) if h]
            tokens = [t for t, h in zip(tokens, held, strict=True) if not h]
            val_y, y = y[held], y[~held]
        else:
            val_tokens = self.tokenizer.batch(val_texts)
            val_y = np.asarray(val_y, dtype=np.int64)
        self.vocabulary_ = Vocabulary.build(tokens, min_count=cfg.min_count, max_size=cfg.max_vocab)
        ids = self.vocabulary_.encode(tokens, cfg.max_len)
        val_ids = self.vocabulary_.encode(val_tokens, cfg.max_len)
        torch.manual_seed(cfg.random_state)
        device = select_device(cfg.device)
        self.network_ = _NETWORKS[cfg.kind](len(self.vocabulary_), cfg).to(device)
        task = _ReviewTask(self.network_, ids, y, val_ids, val_y, cfg, device)
        with torch_threads(cfg.threads):
            self.train_result_ = Trainer(cfg, desc=f"sentiment {cfg.kind}").fit(task)
        self.network_.cpu().eval()

    # ------------------------------------------------------------------------- predict
    def predict_proba(self, texts: Sequence[str], batch_size: int = 512) -> np.ndarray:
        """P(positive) of each text, float32, in input order (empty text: the model's prior
        reading of nothing, not an error)."""
        self._check_fitted()
        texts = _texts(texts)
        if not texts:
            return np.zeros(0, dtype=np.float32)
        kind = self.config.kind
        if kind in NEURAL:
            ids = self.vocabulary_.encode(self.tokenizer.batch(texts), self.config.max_len)
            with torch_threads(self.config.threads):
                return _score(self.network_, ids, torch.device("cpu"), batch_size)
        if kind == "tfidf":
            words, chars = self.vectorizers_
            x = sp.hstack([words.transform(texts), chars.transform(texts)]).tocsr()
        else:
            x = _embed(texts)
        logits = x @ self.coef_ + self.intercept_
        return (1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))).astype(np.float32)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """1 (positive) or 0 (negative) per text."""
        return (self.predict_proba(texts) >= 0.5).astype(np.int64)

    # --------------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """model.json (config) + weights.safetensors (+ vocabulary.json), atomically."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        kind = self.config.kind
        vocab: dict[str, list[str]] | None = None
        if kind in NEURAL:
            state = {k: v.contiguous() for k, v in self.network_.state_dict().items()}
            atomic_write(path / WEIGHTS_FILE, lambda tmp: save_torch(state, tmp))
            vocab = {"tokens": self.vocabulary_.to_list()}
        else:
            arrays = {"coef": self.coef_, "intercept": np.array([self.intercept_])}
            if kind == "tfidf":
                words, chars = self.vectorizers_
                arrays |= {"word_idf": words.idf_.astype(np.float32)}
                arrays |= {"char_idf": chars.idf_.astype(np.float32)}
                vocab = {"words": _terms(words), "chars": _terms(chars)}
            atomic_write(path / WEIGHTS_FILE, lambda tmp: save_numpy(arrays, tmp))
        if vocab is not None:
            text = json.dumps(vocab, ensure_ascii=False)
            atomic_write(path / VOCAB_FILE, lambda tmp: Path(tmp).write_text(text, "utf-8"))
        meta = {
            "model": self.name,
            "kind": kind,
            "config": self.get_params(),
            "labels": list(LABELS),
            "n_train": self.n_train_,
            "train_seconds": round(self.train_seconds_, 3),
        }
        text = json.dumps(meta, indent=2)
        atomic_write(path / CONFIG_FILE, lambda tmp: Path(tmp).write_text(text))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a folder written by `save`: the same predictions as the saved model."""
        path = Path(path)
        meta = read_model_json(path, cls.name, CONFIG_FILE)
        known = {f.name for f in fields(SentimentConfig)}
        model = cls(**{k: v for k, v in meta["config"].items() if k in known})
        model.n_train_ = int(meta.get("n_train", 0))
        model.train_seconds_ = float(meta.get("train_seconds", 0.0))
        model.train_result_ = None
        kind = model.config.kind
        vocab = json.loads((path / VOCAB_FILE).read_text("utf-8")) if kind != "minilm" else {}
        if kind in NEURAL:
            model.vocabulary_ = Vocabulary(vocab["tokens"])
            model.network_ = _NETWORKS[kind](len(model.vocabulary_), model.config)
            model.network_.load_state_dict(load_torch(path / WEIGHTS_FILE))
            model.network_.eval()
            return model
        arrays = load_numpy(path / WEIGHTS_FILE)
        model.coef_ = arrays["coef"]
        model.intercept_ = float(arrays["intercept"][0])
        if kind == "tfidf":
            words = TfidfVectorizer(
                analyzer=_WordGrams(model.tokenizer),
                vocabulary={t: i for i, t in enumerate(vocab["words"])},
                sublinear_tf=True,
                dtype=np.float32,
            )
            chars = TfidfVectorizer(
                analyzer="char",
                ngram_range=(1, 3),
                vocabulary={t: i for i, t in enumerate(vocab["chars"])},
                sublinear_tf=True,
                dtype=np.float32,
            )
            words.idf_, chars.idf_ = arrays["word_idf"], arrays["char_idf"]
            model.vectorizers_ = (words, chars)
        return model


def sentiment_metrics(
    labels: Sequence[int] | np.ndarray,
    predicted: Sequence[int] | np.ndarray,
    categories: Sequence[object] | None = None,
) -> dict[str, Any]:
    """accuracy, macro_f1, the majority-class accuracy and, given categories, accuracy per
    category (`per_category`: name -> {accuracy, n})."""
    from sklearn.metrics import f1_score

    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(predicted, dtype=np.int64)
    out: dict[str, Any] = {
        "accuracy": float((y == p).mean()) if len(y) else float("nan"),
        "macro_f1": float(f1_score(y, p, average="macro")) if len(y) else float("nan"),
        "majority_accuracy": float(max(y.mean(), 1 - y.mean())) if len(y) else float("nan"),
        "n": len(y),
    }
    if categories is not None:
        cats = np.asarray([str(c) for c in categories], dtype=object)
        out["per_category"] = {
            str(c): {
                "accuracy": float((y[cats == c] == p[cats == c]).mean()),
                "n": int((cats == c).sum()),
            }
            for c in sorted(set(cats))
        }
    return out


class _WordGrams:
    """TF-IDF analyzer: the tokenizer's words and their adjacent pairs."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer

    def __call__(self, text: str) -> list[str]:
        tokens = self.tokenizer(text)
        return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]


def _terms(vectorizer: TfidfVectorizer) -> list[str]:
    return [str(t) for t in vectorizer.get_feature_names_out()]


def _texts(texts: Iterable[str | None]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("pass a list of texts, not a single string")
    return ["" if t is None else str(t) for t in texts]


def _embed(texts: list[str]) -> np.ndarray:
    from shopsense.text.embeddings import SentenceEncoder

    return SentenceEncoder().encode(texts, progress=len(texts) > 2000)
