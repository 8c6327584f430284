"""PEBBLE's schedule, and rendering stored states again (pendulum: pygame, no GPU)."""

from __future__ import annotations

import numpy as np
import pytest

from rewardforge.errors import ConfigError
from rewardforge.preference.render import SIM_STATE, StateRenderer, png_bytes, state_task
from rewardforge.preference.schedule import PreferenceSchedule
from rewardforge.tasks.registry import get_task
from rewardforge.tasks.vecenv import make_env


def test_updates_follow_the_unsupervised_stretch_and_stop_at_the_budget() -> None:
    s = PreferenceSchedule(10_000, unsupervised_steps=2_000, update_every=3_000,
                           pairs_per_update=40, label_budget=100)  # fmt: skip
    assert s.updates() == [(2_000, 40), (5_000, 40), (8_000, 20)]
    no_stretch = PreferenceSchedule(5_000, 0, 2_000, 10, 1_000)
    assert no_stretch.updates() == [(2_000, 10), (4_000, 10)]
    assert PreferenceSchedule(1_000, 1_000, 500, 10, 100).updates() == []


def test_schedule_values_are_checked() -> None:
    with pytest.raises(ConfigError, match="label_budget must be positive"):
        PreferenceSchedule(1_000, label_budget=0)
    with pytest.raises(ConfigError, match="unsupervised_steps must be >= 0"):
        PreferenceSchedule(1_000, unsupervised_steps=-1)


def test_stored_states_render_again_as_frames() -> None:
    pytest.importorskip("pygame")
    task = state_task(get_task("pendulum"))
    env = make_env(task, num_envs=2, seed=0)
    env.reset()
    result = env.step(np.zeros((2, 1), np.float32))
    env.close()
    states = result.variables[SIM_STATE]
    assert states.shape == (2, 2)  # the pendulum's angle and angular velocity
    with StateRenderer(task, size=64) as renderer:
        frames = renderer.render(states)
        again = renderer.render(states[::-1])
    assert frames.shape == (2, 64, 64, 3) and frames.dtype == np.uint8
    assert not np.array_equal(frames[0], frames[1])
    np.testing.assert_array_equal(frames, again[::-1])  # the same state, the same picture
    assert png_bytes(frames[0]) == png_bytes(again[1])
