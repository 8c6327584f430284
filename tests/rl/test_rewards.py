from __future__ import annotations

import numpy as np

from rewardforge.errors import RewardRaisedError
from rewardforge.rewards.base import EnvReward, RewardOutput
from rewardforge.rl.rewards import MemberRewards

from .conftest import FailingReward


class FakeSandbox:
    """Stands in for ``RewardSandbox``: key 0 scales the env reward, key 1 fails."""

    def __init__(self) -> None:
        self.calls = 0

    def evaluate_many(self, keys, transition):
        self.calls += 1
        env = np.asarray(transition["_env_reward"], dtype=np.float64)
        return [
            RewardOutput(env * (key + 2), {"scaled": env})
            if key == 0
            else RewardRaisedError("boom")
            for key in keys
        ]


class SandboxedStub:
    def __init__(self, sandbox: FakeSandbox, key: int) -> None:
        self.sandbox, self.key, self.name = sandbox, key, f"cand{key}"

    def __call__(self, transition):
        raise AssertionError("members sharing a sandbox are evaluated with evaluate_many")


def transition(rows: int) -> dict[str, np.ndarray]:
    return {"_env_reward": np.arange(rows, dtype=np.float64), "_success": np.zeros(rows, bool)}


def test_members_get_their_rows_and_failures_are_recorded() -> None:
    env = EnvReward()
    members = MemberRewards([env, FailingReward(), env], envs_per_member=2)
    reward, components = members.own(transition(6))
    np.testing.assert_array_equal(reward, [0, 1, 0, 0, 4, 5])
    assert np.isnan(components["env"][2:4]).all() and components["env"][4] == 4
    assert members.errors[0] is None and "ZeroDivisionError" in (members.errors[1] or "")
    table = members.all_members(transition(6), 6)
    np.testing.assert_array_equal(table[:, 0], np.arange(6))


def test_sandboxed_members_share_one_round_trip() -> None:
    sandbox = FakeSandbox()
    members = MemberRewards([SandboxedStub(sandbox, 0), SandboxedStub(sandbox, 1)], 2)
    reward, components = members.own(transition(4))
    assert sandbox.calls == 1
    np.testing.assert_array_equal(reward, [0, 2, 0, 0])
    np.testing.assert_array_equal(components["scaled"][:2], [0, 1])
    assert members.errors[0] is None and "boom" in (members.errors[1] or "")
