"""VerifySettings: defaults, direct construction, and from_config errors that name the key."""

from __future__ import annotations

from typing import Any

import pytest

from satisfice.config import ConfigError
from satisfice.verify import DEFAULT_CHAIN, VerifySettings, default_thresholds


def test_defaults() -> None:
    s = VerifySettings()
    assert s.chain == DEFAULT_CHAIN and not s.judge and not s.self_consistency
    assert s.thresholds["judge_min_score"] == 7
    assert set(s.thresholds) == set(default_thresholds())
    assert "judge_template" not in s.params
    assert VerifySettings.from_config(None) == s
    assert VerifySettings.from_config({}) == s


def test_from_config_full() -> None:
    s = VerifySettings.from_config(
        {
            "chain": ["truncation", "refusal"],
            "judge": True,
            "self_consistency": True,
            "thresholds": {"judge_min_score": 8, "min_distinct_ngram_ratio": 0.2, "min_answer_chars": 0},
            "judge_template": "Q: {question}\nA: {answer}\nScore?",
        },
        "routes.cheap.verify",
    )
    assert s.chain == ("truncation", "refusal") and s.judge and s.self_consistency
    assert s.thresholds["judge_min_score"] == 8.0 and s.thresholds["max_line_repeats"] == 6
    assert s.params["judge_template"].startswith("Q: {question}")


@pytest.mark.parametrize(
    ("doc", "key", "words"),
    [
        ([], "verify", "mapping"),
        ({"chian": []}, "verify.chian", "unknown key"),
        ({"chain": "truncation"}, "verify.chain", "list"),
        ({"chain": ["truncation", "nope"]}, "verify.chain[1]", "unknown verifier"),
        ({"chain": ["truncation", 3]}, "verify.chain[1]", "verifier name"),
        ({"chain": ["refusal", "refusal"]}, "verify.chain[1]", "twice"),
        ({"chain": ["judge"]}, "verify.chain[0]", "judge: true"),
        ({"judge": "yes"}, "verify.judge", "true or false"),
        ({"self_consistency": 1}, "verify.self_consistency", "true or false"),
        ({"thresholds": [1]}, "verify.thresholds", "mapping"),
        ({"thresholds": {"judge_min": 7}}, "verify.thresholds.judge_min", "unknown threshold"),
        ({"thresholds": {"judge_min_score": 11}}, "verify.thresholds.judge_min_score", "1-10"),
        ({"thresholds": {"judge_min_score": True}}, "verify.thresholds.judge_min_score", "number"),
        (
            {"thresholds": {"min_distinct_ngram_ratio": 2}},
            "verify.thresholds.min_distinct_ngram_ratio",
            "ratio",
        ),
        ({"thresholds": {"max_line_repeats": 0}}, "verify.thresholds.max_line_repeats", ">= 1"),
        ({"thresholds": {"min_answer_chars": -1}}, "verify.thresholds.min_answer_chars", ">= 0"),
        ({"judge_template": "no placeholders"}, "verify.judge_template", "{answer}"),
    ],
)
def test_from_config_errors_name_the_key(doc: Any, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        VerifySettings.from_config(doc, "verify")
    assert err.value.key == key
    assert words in str(err.value)


def test_direct_construction_validates() -> None:
    with pytest.raises(ValueError, match="unknown verifier"):
        VerifySettings(chain=("truncation", "nope"))
    with pytest.raises(ValueError, match=r"thresholds\.bogus"):
        VerifySettings(thresholds={"bogus": 1})
