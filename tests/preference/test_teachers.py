"""The scripted teacher and B-Pref's knobs, the label parser, the label cache."""

from __future__ import annotations

import numpy as np
import pytest

from rewardforge.errors import ConfigError
from rewardforge.preference.teachers import (
    EQUAL,
    FIRST,
    SECOND,
    Judgement,
    LabelCache,
    PairBatch,
    ScriptedTeacher,
    TeacherKnobs,
    count_labels,
    label_key,
    parse_answer,
)
from rewardforge.tasks.registry import get_task
from rewardforge.tasks.vecenv import ENV_REWARD_KEY, SUCCESS_KEY


def pairs(u1: np.ndarray, u2: np.ndarray) -> PairBatch:
    side = lambda u: {ENV_REWARD_KEY: np.asarray(u, float), SUCCESS_KEY: np.asarray(u) > 0.5}  # noqa: E731
    return PairBatch(side(u1), side(u2))


def teacher(**knobs: float | None) -> ScriptedTeacher:
    return ScriptedTeacher(get_task("pendulum"), "env", TeacherKnobs(**knobs), seed=0)


def test_rational_teacher_prefers_the_higher_utility() -> None:
    labels = teacher().label(pairs([0.0, 1.0, -2.0], [1.0, 0.0, -1.0]))
    assert labels.tolist() == [SECOND, FIRST, SECOND]


def test_stochastic_teacher_follows_bradley_terry() -> None:
    rng = np.random.default_rng(0)
    u1 = rng.normal(size=20_000)
    u2 = u1 + 1.0  # the second is better by 1: P(second) = sigmoid(beta)
    for beta, expected in ((1.0, 1 / (1 + np.exp(-1.0))), (100.0, 1.0)):
        labels = teacher(beta=beta).label(pairs(u1, u2))
        assert labels.mean() == pytest.approx(expected, abs=0.01)


def test_mistakes_flip_labels() -> None:
    u1, u2 = np.zeros(10_000), np.ones(10_000)
    assert (teacher(mistake=1.0).label(pairs(u1, u2)) == FIRST).all()
    assert (teacher(mistake=0.3).label(pairs(u1, u2)) == FIRST).mean() == pytest.approx(
        0.3, abs=0.02
    )


def test_equal_and_skip_thresholds_are_fractions_of_the_range() -> None:
    u1 = np.array([0.0, 0.0, 9.0, 0.5])
    u2 = np.array([10.0, 0.5, 9.4, 1.0])
    labels = teacher(equal=0.1, skip=0.2).label(pairs(u1, u2))
    # range 0..10: equal below 1.0 apart, skipped when both are below 2.0
    assert labels[0] == SECOND
    assert np.isnan(labels[1]) and np.isnan(labels[3])
    assert labels[2] == EQUAL
    assert count_labels(labels) == {"first": 0, "second": 1, "equal": 1, "none": 2}


def test_utility_auto_uses_the_score_when_the_task_has_one() -> None:
    assert ScriptedTeacher(get_task("pendulum")).utility == "env"
    assert ScriptedTeacher(get_task("halfcheetah")).utility == "score"
    success = ScriptedTeacher(get_task("pendulum"), "success")
    assert success.label(pairs([0.0, 1.0], [1.0, 1.0])).tolist() == [SECOND, EQUAL]
    with pytest.raises(ConfigError, match="has no score code"):
        ScriptedTeacher(get_task("pendulum"), "score")


def test_knobs_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"mistake must lie in \[0, 1\]"):
        TeacherKnobs(mistake=1.5)
    with pytest.raises(ConfigError, match="beta must be positive"):
        TeacherKnobs(beta=0.0)
    with pytest.raises(ConfigError, match="utility must be one of"):
        ScriptedTeacher(get_task("pendulum"), "distance")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("0", 0.0),
        ("1", 1.0),
        ("-1", None),
        ("Image 1 shows the arm far away.\nImage 2 is closer.\n1", 1.0),
        ("**0**", 0.0),
        ("The answer is: 1.", 1.0),
        ("I cannot tell the difference.", None),
        ("Image 1 and Image 2 look alike", None),
    ],
)
def test_parse_answer(text: str, label: float | None) -> None:
    got = parse_answer(text)
    assert np.isnan(got) if label is None else got == label


def test_label_cache_round_trip_and_replay_mode(tmp_path) -> None:
    path = tmp_path / "labels.sqlite"
    key = label_key("a" * 64, "b" * 64, "prompt", "compatible/m")
    with pytest.raises(ConfigError, match="does not exist"):
        LabelCache(path, mode="replay")
    cache = LabelCache(path)
    cache.store(key, Judgement(1.0, "analysis", "1"), "compatible/m", "a" * 64, "b" * 64)
    cache.store("k2", Judgement(float("nan"), "x", "-1"), "compatible/m", "c" * 64, "d" * 64)
    cache.close()
    replay = LabelCache(path, mode="replay")
    found = replay.lookup(key)
    assert found == Judgement(1.0, "analysis", "1", cached=True)
    assert np.isnan(replay.lookup("k2").label)  # type: ignore[union-attr]
    replay.store("k3", Judgement(0.0, "", "0"), "m", "e", "f")  # replay never writes
    assert replay.count() == 2
    assert key != label_key("b" * 64, "a" * 64, "prompt", "compatible/m")
    with pytest.raises(ConfigError, match="mode must be one of"):
        LabelCache(path, mode="sometimes")
