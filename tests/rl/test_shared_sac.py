"""The shared-buffer SAC population (LaRes): relabelling, rescaling, copying, the L2 pull,
Thompson-sampled acting, saving and loading. Tiny networks on pendulum."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rewardforge.errors import ConfigError
from rewardforge.rewards.base import EnvReward
from rewardforge.rewards.program import RewardProgram
from rewardforge.rewards.sandbox import RewardSandbox, SandboxedReward
from rewardforge.rl import make_trainer
from rewardforge.rl.shared_sac import SharedSACPopulation
from rewardforge.tasks import get_task

from .conftest import UprightReward

UPRIGHT = """
import numpy as np

def compute_reward(theta, action):
    upright = np.exp(-np.abs(theta))
    effort = -0.1 * np.sum(action ** 2, axis=-1)
    return upright + effort, {"upright": upright, "effort": effort}
"""
SPIN = """
import numpy as np

def compute_reward(angular_velocity):
    spin = 0.5 * np.abs(angular_velocity)
    return spin, {"spin": spin}
"""
STILL = """
def compute_reward(cos_theta, angular_velocity):
    return 3.0 * cos_theta - angular_velocity ** 2, {"cos": 3.0 * cos_theta}
"""


def _population(rewards, learning_starts: int = 40, **kwargs) -> SharedSACPopulation:
    task = get_task("pendulum")
    trainer = make_trainer(
        "sac", task, learning_starts=learning_starts, batch_size=16, num_envs=2, net_arch=[8]
    )
    seeds = list(range(len(rewards)))
    return SharedSACPopulation(task, rewards, seeds, trainer.config, **kwargs)


def _flat(pop: SharedSACPopulation) -> dict[str, np.ndarray]:
    rows = pop.buffer.size
    return {
        k: v[:rows].reshape(rows * pop.buffer.E, *v.shape[2:])
        for k, v in pop.buffer.variables.items()
    }


def test_relabelling_gives_the_rewards_computed_fresh() -> None:
    task = get_task("pendulum")
    with RewardSandbox() as sandbox:
        fns = {
            name: SandboxedReward(sandbox, RewardProgram.from_source(code, task), name=name)
            for name, code in (("upright", UPRIGHT), ("spin", SPIN), ("still", STILL))
        }
        with _population([EnvReward(), fns["upright"]], relabel_batch=7) as pop:
            pop.train_more(240)
            assert pop.buffer.E == 2 and pop.buffer.size == 120
            pop.set_rewards({0: fns["spin"], 1: fns["still"]})
            pop.train_more(60)  # later transitions are labelled while they are collected
            flat, rows = _flat(pop), pop.buffer.size
            for k, name in ((0, "spin"), (1, "still")):
                fresh = fns[name](flat).reward.astype(np.float32)
                stored = pop.buffer.data["rewards"][:rows, :, k].reshape(-1).numpy()
                np.testing.assert_allclose(stored, fresh, rtol=1e-6)
            # rescaling: member 1's column, as read, gets member 0's mean and spread
            scale, shift = pop.rescale(1, like=0)
            read = pop.buffer.data["rewards"][:rows, :, 1] * scale + shift
            ref = pop.buffer.data["rewards"][:rows, :, 0]
            assert float(read.mean()) == pytest.approx(float(ref.mean()), rel=1e-4)
            assert float(read.std()) == pytest.approx(float(ref.std()), rel=1e-4)
            assert pop.rewards.errors == [None, None]


def test_l2_constraint_pulls_parameters_toward_the_best_member() -> None:
    with _population([EnvReward(), UprightReward("theta")]) as pop:
        pop.train_more(80)
        state = pop.state_dict()
        distances, member0 = [], []
        for weight in (0.0, 100.0):
            pop.load_state_dict(state)
            pop.copy_member(0, 1)  # member 0 plays the best member
            pop.anchor([1], weight)
            assert pop.anchor_distance(1) == 0.0
            for _ in range(40):
                pop._update()
            distances.append(pop.anchor_distance(1))
            member0.append(pop.nets.actor.layers[0].weight[0].clone())
        assert distances[1] < 0.25 * distances[0], distances
        assert torch.equal(member0[0], member0[1])  # the pull acts on member 1 only
        # its gradient is exactly 2 * weight * (theta - anchor), and zero for member 0
        pop.anchor([1], 3.0)
        with torch.no_grad():
            pop.nets.actor.layers[0].weight[1] += 0.5
        pop.optimizer.zero_grad()
        pop._penalty().backward()
        grad = pop.nets.actor.layers[0].weight.grad
        assert torch.allclose(grad[1], torch.full_like(grad[1], 2 * 3.0 * 0.5))
        assert torch.count_nonzero(grad[0]) == 0
        pop.release([1])
        assert pop._penalty() is None


def test_copy_member_copies_networks_temperature_and_adam_moments() -> None:
    with _population([EnvReward(), UprightReward("theta")]) as pop:
        pop.train_more(80)
        pop.copy_member(1, 0)
        nets, k = pop.nets, pop.num_members
        for p in nets.actor.parameters():
            assert torch.equal(p[0], p[1])
        for p in [*nets.critic.parameters(), *nets.target.parameters()]:
            assert torch.equal(p[0], p[1]) and torch.equal(p[k], p[k + 1])
        assert torch.equal(nets.log_alpha[0], nets.log_alpha[1])
        moments = pop.optimizer.state[nets.actor.layers[0].weight]["exp_avg"]
        assert torch.equal(moments[0], moments[1])


def test_members_take_turns_and_thompson_counts_their_episodes() -> None:
    with _population([EnvReward(), UprightReward("theta"), EnvReward()], learning_starts=0) as pop:
        pop.train_more(800)  # 2 environments x 400 steps: 2 episodes each
        played = [len(h) for h in pop.thompson.history]
        recorded = [sum(s.num_episodes for s in snaps) for snaps in pop.recorder.snapshots]
        assert sum(played) == 4 and played == recorded
        own = [{"env"}, {"upright", "alive"}, {"env"}]
        for k, snaps in enumerate(pop.recorder.snapshots):  # only its own reward's components
            assert {n for s in snaps for n in s.components} <= own[k] | {"reward"}
        assert pop.steps == 800 and pop.buffer.size == 400
        evaluations = pop.evaluate_members(num_episodes=2)
        assert [e.result.num_episodes for e in evaluations] == [2, 2, 2]
        upright = evaluations[1]
        assert set(upright.components) == {"upright", "alive"}
        assert upright.own_return == pytest.approx(sum(upright.components.values()))
        assert evaluations[0].own_return == pytest.approx(evaluations[0].result.mean_return)
        with pytest.raises(ConfigError, match="set_rewards"):
            pop.keep([0])


def test_state_round_trip_continues_bit_for_bit() -> None:
    rewards = [EnvReward(), UprightReward("theta")]
    with _population(rewards) as a, _population(rewards) as b:
        a.train_more(120)
        b.load_state_dict(a.state_dict())
        for pop in (a, b):
            pop.restart_episodes()
            pop.train_more(60)
        for x, y in zip(a.nets.state_dict().values(), b.nets.state_dict().values(), strict=True):
            assert torch.equal(x, y)
        assert list(a.thompson.history[0]) == list(b.thompson.history[0])
