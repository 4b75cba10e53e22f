"""Tokenizer and vocabulary: Chinese, English, mixed, emoji, empty and very long texts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shopsense.reviews.tokenize import PAD, UNK, Tokenizer, Vocabulary, detect_language


def test_chinese_is_segmented_into_words_or_characters() -> None:
    assert Tokenizer()("物流很快，质量很好！") == ["物流", "很快", "质量", "很", "好", "!"]
    assert Tokenizer(chinese="chars")("质量很好") == ["质", "量", "很", "好"]


def test_english_mixed_emoji_and_full_width_text() -> None:
    tok = Tokenizer()
    assert tok("Runs SMALL, don’t buy!!") == ["runs", "small", "don't", "buy", "!", "!"]
    assert tok("iPhone很好 but 价格 is high") == ["iphone", "很", "好", "but", "价格", "is", "high"]
    assert tok("😍🔥👍\ufe0f") == ["😍", "🔥", "👍"]
    assert tok("ＧＲＥＡＴ！") == ["great", "!"]  # NFKC folds full-width letters and marks


def test_empty_none_and_very_long_texts() -> None:
    tok = Tokenizer(max_chars=1000)
    assert tok("") == [] and tok(None) == [] and tok("   ...  ") == []
    assert 0 < len(tok("good " * 100_000)) <= 200


def test_language_detection() -> None:
    assert detect_language("这件衣服很好看") == "zh"
    assert detect_language("Love it, 很好") == "zh"
    assert detect_language("Love this dress") == "en"
    assert detect_language("ＧＲＥＡＴ！") == "en"  # full-width Latin
    assert detect_language("iPhone很好 but 价格 is high") == "zh"
    assert detect_language("とても良い服です") == "ja"  # kanji with kana is not Chinese
    assert detect_language("아주 좋아요") == "ko"
    assert detect_language("Очень хорошее платье") == "und-Cyrl"
    for nothing in ("😍", "", "   ", "123 !!!"):  # no letters: no language to tell
        assert detect_language(nothing) == "und"


def test_latin_script_languages_are_told_apart_from_english() -> None:
    """French or German reviews are not English: they must not reach the English model."""
    assert detect_language("Die Qualität ist leider sehr schlecht, nie wieder.") == "de"
    assert detect_language("Très belle robe, je la recommande") == "fr"
    assert detect_language("La talla es muy pequeña") == "es"
    assert detect_language("Bardzo ładna sukienka, polecam") == "pl"
    assert detect_language("Heel mooi en snel geleverd") == "nl"
    # short English is English: too few words to be sure of anything else
    for text in ("Great!", "Love it", "ok", "Too small, returned.", "Where is the charger port?"):
        assert detect_language(text) == "en", text


def test_english_reviews_stay_english(en_reviews, shop_reviews) -> None:
    """4,000 real English clothing reviews and the test shop's own: none is taken for
    another language (a false alarm would refuse a customer's review)."""
    texts = [*en_reviews["text"], *shop_reviews.loc[shop_reviews["language"] == "en", "text"]]
    assert len(texts) > 4000
    assert [t for t in texts if detect_language(t) != "en"] == []


def test_vocabulary_encodes_head_and_tail_and_saves_as_json() -> None:
    tok = Tokenizer()
    docs = tok.batch(["good good bad", "good 好", "bad 好 好"])
    vocab = Vocabulary.build(docs, min_count=2)
    assert vocab.to_list()[:2] == [PAD, UNK] and set(vocab.to_list()[2:]) == {"good", "bad", "好"}
    ids = vocab.encode([["good"] * 3 + ["x"] * 10 + ["bad"] * 3, [], ["unseen"]], max_len=6)
    g, b = vocab.index["good"], vocab.index["bad"]
    assert ids[0].tolist() == [g, g, g, b, b, b]  # head and tail survive truncation
    assert ids[1].tolist() == [1, 0, 0, 0, 0, 0] and ids[2, 0] == 1
    again = Vocabulary(json.loads(json.dumps(vocab.to_list())))
    np.testing.assert_array_equal(again.encode(docs, 4), vocab.encode(docs, 4))
    with pytest.raises(ValueError, match="starts with"):
        Vocabulary(["a", "b"])
    with pytest.raises(ValueError, match="chinese"):
        Tokenizer(chinese="pinyin")
