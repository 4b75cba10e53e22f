"""Words of a review in Chinese, English or both, and the vocabulary that numbers them.

`Tokenizer` normalises a text (NFKC, so full-width ！ and ＡＢＣ become ! and abc; lower case)
and cuts it into runs: Han characters are segmented into words by jieba (Sun Junyi's
dictionary + HMM segmenter, bundled with the package, so nothing is downloaded) or kept as
single characters; Latin/Cyrillic/digit runs become words; emoji and the marks ! and ? are
tokens of their own, because 😡 and !!! carry sentiment. Other punctuation is dropped.

`Vocabulary` numbers tokens for the neural models (0 = padding, 1 = unknown) and encodes
texts into fixed-length id rows; texts longer than the row keep their head and their tail
(the verdict of a review is often its last sentence; Sun et al. 2019, "How to Fine-Tune
BERT for Text Classification?", found head+tail truncation best). Both save as JSON.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"([{_HAN}]+)|([^\W_{_HAN}]+(?:['’][^\W_{_HAN}]+)*)|([^\w\s])")
_MARKS = frozenset("!?")
CHINESE_MODES = ("words", "chars")
PAD, UNK = "<pad>", "<unk>"


def has_han(text: str) -> bool:
    """Whether `text` holds Chinese characters."""
    return re.search(f"[{_HAN}]", text) is not None


#: Scripts read from a letter's Unicode name, and the language each one is taken for.
#: Latin script is told apart further by `latin_language`; other scripts shared by many
#: languages get an undetermined tag ("und-Cyrl").
SCRIPT_LANGUAGES = {
    "LATIN": "en",
    "CJK": "zh",
    "HIRAGANA": "ja",
    "KATAKANA": "ja",
    "HANGUL": "ko",
    "GREEK": "el",
    "HEBREW": "he",
    "THAI": "th",
    "CYRILLIC": "und-Cyrl",
    "ARABIC": "und-Arab",
    "DEVANAGARI": "und-Deva",
}
UNDETERMINED = "und"


def detect_language(text: str, *, sample: int = 2000) -> str:
    """The language of `text` by the script of its letters (the first `sample` letters).

    "zh" when at least a fifth of the letters are Han characters and there is no kana
    (a Chinese review often names an English brand); "ja" with kana; otherwise the
    language of the most common script (`SCRIPT_LANGUAGES`); Latin script is English
    unless `latin_language` is sure of another ("de", "fr", ...). A text without letters
    (empty, digits, emoji only) is "und": there is nothing to tell."""
    counts: Counter[str] = Counter()
    seen = 0
    for ch in unicodedata.normalize("NFKC", text[: 4 * sample]):  # full-width ＡＢＣ is Latin
        if not ch.isalpha():
            continue
        counts[unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]] += 1
        seen += 1
        if seen >= sample:
            break
    if not seen:
        return UNDETERMINED
    if counts["HIRAGANA"] + counts["KATAKANA"]:
        return "ja"
    if counts["CJK"] / seen >= 0.2:
        return "zh"
    script = max(counts, key=lambda s: (counts[s], s))
    if script == "LATIN":
        return latin_language(text[: 4 * sample])
    return SCRIPT_LANGUAGES.get(script, UNDETERMINED)


#: Latin-script languages a shop's reviews are told apart among (langid.py's codes)
LATIN_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "pl",
                   "cs", "sk", "hu", "ro", "hr", "sl", "lt", "lv", "et", "tr", "id", "ms",
                   "tl", "vi")  # fmt: skip
#: how sure langid.py must be, and how many words a text needs, before a Latin-script
#: text is taken for another language than English: short titles such as "Unique fun
#: jeans" look French to it, full reviews in English never did (22,641 of 22,641 kept)
LATIN_CONFIDENCE, LATIN_MIN_WORDS = 0.8, 3


def latin_language(text: str) -> str:
    """The language of a Latin-script text: another language than "en" only when
    langid.py (a naive Bayes model over byte n-grams, bundled with py3langid) is at least
    `LATIN_CONFIDENCE` sure among `LATIN_LANGUAGES` and the text has `LATIN_MIN_WORDS`
    words; otherwise "en", so a short English review is never refused for looking odd."""
    if len(re.findall(r"\w+", text)) < LATIN_MIN_WORDS:
        return "en"
    language, confidence = _latin_identifier().classify(text)
    return str(language) if language != "en" and confidence >= LATIN_CONFIDENCE else "en"


@functools.cache
def _latin_identifier() -> Any:
    """langid.py's model, read once per process (~1 s) on the first Latin-script text."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LATIN_LANGUAGES))
    return identifier


@dataclass(frozen=True)
class Tokenizer:
    """Text -> tokens for Chinese, English and mixed reviews."""

    chinese: str = "words"
    """"words" (jieba segmentation) or "chars" (one token per Han character)."""
    lowercase: bool = True
    """Fold case of Latin letters."""
    max_chars: int = 20_000
    """Read at most this many characters of a text (a pasted essay must not stall a request)."""

    def __post_init__(self) -> None:
        if self.chinese not in CHINESE_MODES:
            raise ValueError(f"chinese must be one of {CHINESE_MODES}, not {self.chinese!r}")

    def __call__(self, text: str | None) -> list[str]:
        return self.tokens(text)

    def tokens(self, text: str | None) -> list[str]:
        """The tokens of one text; None or empty text gives []."""
        if not text:
            return []
        text = unicodedata.normalize("NFKC", str(text)[: self.max_chars])
        if self.lowercase:
            text = text.lower()
        out: list[str] = []
        for han, word, symbol in _RUNS.findall(text):
            if han:
                out.extend(_segment(han) if self.chinese == "words" else han)
            elif word:
                out.append(word.replace("’", "'"))
            elif symbol in _MARKS or unicodedata.category(symbol) == "So":
                out.append(symbol)
        return out

    def batch(self, texts: Iterable[str | None]) -> list[list[str]]:
        """Tokens of every text, in order."""
        return [self.tokens(t) for t in texts]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tokenizer:
        return cls(**data)


_JIEBA: Any = None


def _segment(run: str) -> list[str]:
    """jieba words of a run of Han characters (the dictionary loads on first use)."""
    global _JIEBA
    if _JIEBA is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        _JIEBA = jieba
    return _JIEBA.lcut(run)


class Vocabulary:
    """Token <-> id for the neural models: 0 is padding, 1 is an unknown token."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if list(tokens[:2]) != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {PAD!r} and {UNK!r}")
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("a vocabulary may not hold a token twice")

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(
        cls, token_lists: Iterable[Sequence[str]], *, min_count: int = 2, max_size: int = 50_000
    ) -> Vocabulary:
        """The `max_size` most frequent tokens seen at least `min_count` times (ties by
        token, so the same corpus always gives the same numbering)."""
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        kept = sorted(
            (t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t)
        )
        return cls([PAD, UNK, *kept[: max(max_size - 2, 0)]])

    def encode(self, token_lists: Sequence[Sequence[str]], max_len: int) -> np.ndarray:
        """(n, max_len) int64 ids, right-padded with 0; longer texts keep head and tail.
        An empty text becomes one unknown token, so every row has something to read."""
        if max_len < 2:
            raise ValueError("max_len must be at least 2")
        out = np.zeros((len(token_lists), max_len), dtype=np.int64)
        head = max_len // 2
        for row, tokens in enumerate(token_lists):
            ids = [self.index.get(t, 1) for t in tokens] or [1]
            if len(ids) > max_len:
                ids = ids[:head] + ids[len(ids) - (max_len - head) :]
            out[row, : len(ids)] = ids
        return out

    def to_list(self) -> list[str]:
        return list(self.tokens)
