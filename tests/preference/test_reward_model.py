"""Bradley-Terry learns a known preference; the ensemble, the CNN, the exported program."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rewardforge.errors import ConfigError
from rewardforge.preference.reward_model import (
    LearnedReward,
    RewardLearner,
    RewardModelConfig,
    bradley_terry_loss,
    export_program,
    input_variables,
)
from rewardforge.rewards.program import RewardProgram
from rewardforge.tasks.registry import get_task

TASK = get_task("pendulum")


def states(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-np.pi, np.pi, n)
    return {
        "theta": theta,
        "cos_theta": np.cos(theta),
        "sin_theta": np.sin(theta),
        "angular_velocity": rng.uniform(-8, 8, n),
        "action": rng.uniform(-2, 2, (n, 1)).astype(np.float32),
        "episode_step": np.ones(n, dtype=np.int64),
    }


def utility(s: dict[str, np.ndarray]) -> np.ndarray:
    return s["cos_theta"]  # upright is better, nothing else matters


def take(s: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[index] for k, v in s.items()}


def fitted(num_pairs: int = 400, seed: int = 0, **config: object) -> RewardLearner:
    pool = states(2 * num_pairs, seed)
    learner = RewardLearner(TASK, RewardModelConfig(seed=seed, **config))  # type: ignore[arg-type]
    learner.observe(pool)
    a, b = take(pool, np.arange(num_pairs)), take(pool, np.arange(num_pairs, 2 * num_pairs))
    labels = (utility(b) > utility(a)).astype(float)
    labels[:10] = np.nan  # no label: dropped
    assert learner.add(a, b, labels) == num_pairs - 10
    learner.fit()
    return learner


def test_bradley_terry_learns_a_known_preference() -> None:
    learner = fitted()
    test = states(2000, seed=1)
    reward = learner.predict(test).mean(0)
    order = np.argsort(reward)
    # the learned reward ranks held-out states as the true utility does
    true = utility(test)
    assert np.corrcoef(np.argsort(np.argsort(reward)), np.argsort(np.argsort(true)))[0, 1] > 0.9
    assert true[order[-200:]].mean() > 0.8 > -0.8 > true[order[:200]].mean()
    assert learner.num_labels == 390
    assert input_variables(TASK) == (
        "theta",
        "cos_theta",
        "sin_theta",
        "angular_velocity",
        "action",
    )


def test_loss_is_the_cross_entropy_of_the_difference() -> None:
    r1, r2 = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0])
    labels = torch.tensor([1.0, 0.5])
    expected = -(np.log(1 / (1 + np.exp(-1.0))) + np.log(0.5)) / 2
    assert float(bradley_terry_loss(r1, r2, labels)) == pytest.approx(expected)


def test_same_labels_same_seed_same_weights() -> None:
    a, b = fitted(seed=3).model.state_dict(), fitted(seed=3).model.state_dict()  # type: ignore[union-attr]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_members_disagree_on_what_they_have_not_seen() -> None:
    learner = fitted(num_pairs=200)
    pool = states(1000, seed=2)
    d = learner.disagreement(take(pool, np.arange(500)), take(pool, np.arange(500, 1000)))
    assert d.shape == (500,) and (d >= 0).all() and d.max() > 0


def test_learned_reward_explores_until_fitted_then_pays_the_model() -> None:
    learner = RewardLearner(TASK)
    reward = LearnedReward(learner)
    first = reward(states(8, 0))
    assert set(first.components) == {"exploration"} and first.reward.shape == (8,)
    for seed in range(1, 4):  # new states are far from what was seen: positive reward
        out = reward(states(8, seed))
    assert (out.reward > 0).all()
    learner = fitted()
    out = LearnedReward(learner)(states(16, 5))
    assert set(out.components) == {"learned", "disagreement"}
    assert np.allclose(out.reward, learner.predict(states(16, 5)).mean(0))


def test_exported_program_passes_the_lint_and_computes_the_same_reward() -> None:
    learner = fitted(num_pairs=100)
    source = export_program(learner, note="test")
    program = RewardProgram.from_source(source, TASK)
    assert program.params == input_variables(TASK)
    namespace: dict[str, object] = {}
    exec(source, namespace)  # noqa: S102 - our own generated code
    test = states(64, 9)
    reward, components = namespace["compute_reward"](*(test[n] for n in program.params))  # type: ignore[operator]
    assert np.allclose(reward, learner.predict(test).mean(0), atol=1e-5)
    assert set(components) == {"learned"}


def test_cnn_learns_from_frames() -> None:
    from rewardforge.tasks.spec import Variable

    frame = Variable.model_construct(name="frame", shape=(12, 12, 3), dtype="uint8", source="")
    task = TASK.model_copy(update={"variables": (*TASK.variables, frame)})
    rng = np.random.default_rng(0)
    n = 300

    def frames(x: np.ndarray) -> np.ndarray:  # a bright column at x: further right is better
        out = np.zeros((len(x), 12, 12, 3), np.uint8)
        out[np.arange(len(x)), :, x] = 255
        return out

    xa, xb = rng.integers(0, 12, n), rng.integers(0, 12, n)
    keep = xa != xb
    learner = RewardLearner(task, RewardModelConfig(kind="cnn", ensemble_size=2, epochs=40))
    learner.add(
        {"frame": frames(xa[keep])}, {"frame": frames(xb[keep])}, (xb > xa)[keep].astype(float)
    )
    learner.fit()
    reward = learner.predict({"frame": frames(np.arange(12))}).mean(0)
    assert np.corrcoef(reward, np.arange(12))[0, 1] > 0.8
    assert "not exportable" in export_program(learner)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="mlp or cnn"):
        RewardModelConfig(kind="transformer")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="needs frames"):
        RewardLearner(TASK, RewardModelConfig(kind="cnn"))
