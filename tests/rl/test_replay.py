from __future__ import annotations

import numpy as np
import torch

from rewardforge.rewards.base import EnvReward
from rewardforge.rl import make_trainer
from rewardforge.rl.replay import ReplayBuffer
from rewardforge.tasks import get_task


def test_sac_buffer_keeps_every_transition_until_its_size_then_wraps() -> None:
    """Regression: the buffer used to stop growing at the first reflection point (a tenth of a
    ``train_more`` call) and cycle over that, so SAC learned from the last 10% of its data."""
    task = get_task("pendulum")
    trainer = make_trainer(
        "sac", task, learning_starts=50, batch_size=8, net_arch=[8], buffer_size=1200
    )
    with trainer.start([EnvReward()], [0]) as pop:
        pop.train_more(800)
        assert (pop.buffer.size, pop.buffer.full) == (200, False)  # 800 steps / 4 envs
        pop.train_more(800)
        assert (pop.buffer.size, pop.buffer.full, pop.buffer.pos) == (300, True, 100)


def _buffer(rows: int) -> ReplayBuffer:
    buf = ReplayBuffer(2, 3, 1, 1, 100, True, torch.device("cpu"), columns=3)
    for t in range(rows):  # grows without reserve()
        buf.add(
            np.full((3, 1), t), np.full((3, 1), t + 1), np.zeros((3, 1)), np.zeros(3),
            np.zeros((3, 2)), {"x": np.arange(3, dtype=np.float64) + 10 * t},
        )  # fmt: skip
    return buf


def test_relabel_members_in_batches_and_state_round_trip() -> None:
    buf = _buffer(5)
    assert buf.E == 3 and buf.size == 5
    buf.relabel_members([1], lambda v, rows: (2 * v["x"])[:, None], batch_rows=4)
    expected = 2 * (np.arange(3)[None, :] + 10 * np.arange(5)[:, None])
    np.testing.assert_array_equal(buf.data["rewards"][:5, :, 1].numpy(), expected)
    assert not buf.data["rewards"][:5, :, 0].any()
    copy = ReplayBuffer(2, 3, 1, 1, 100, True, torch.device("cpu"), columns=3)
    copy.load_state_dict(buf.state_dict())
    for key in buf.data:
        assert torch.equal(copy.data[key][:5], buf.data[key][:5])
    np.testing.assert_array_equal(copy.variables["x"][:5], buf.variables["x"][:5])
    assert (copy.pos, copy.full, copy.size) == (buf.pos, buf.full, buf.size)
