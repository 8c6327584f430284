from __future__ import annotations

import pytest

from rewardforge.llm import prompts
from rewardforge.tasks import get_task


@pytest.fixture(scope="module")
def task():  # type: ignore[no-untyped-def]
    return get_task("cartpole")


def test_task_prompt_has_variables_table_and_contract(task) -> None:  # type: ignore[no-untyped-def]
    text = prompts.task_prompt(task)
    assert "| pole_angle | (B) | float64 | rad |" in text
    assert "def compute_reward(cart_position, cart_velocity, pole_angle" in text
    assert "return reward, components" in text and "numpy" in text
    assert "$" not in text and "Environment source" not in text


def test_env_source_is_stripped_and_capped(task) -> None:  # type: ignore[no-untyped-def]
    source = prompts.env_source_context(task)
    assert source is not None and "class CartPoleEnv" in source
    assert '"""' not in source and "#" not in source.split("\n", 1)[1]
    assert len(prompts.env_source_context(task, max_chars=500) or "") < 600
    assert "class CartPoleEnv" in prompts.task_prompt(task, source)


def test_reflection_prompt_formats_statistics() -> None:
    text = prompts.reflection_prompt({"upright": [0.0, 0.5, 1.0], "effort": -0.2}, [0.0, 0.25])
    assert "upright: [0, 0.5, 1], Max: 1, Mean: 0.5, Min: 0" in text
    assert "effort: -0.2" in text and "task success rate: [0, 0.25]" in text
    assert "ready text" in prompts.reflection_prompt("ready text")


def test_error_and_success_prompts(task) -> None:  # type: ignore[no-untyped-def]
    assert "NameError: x" in prompts.execution_error_prompt("NameError: x\n")
    text = prompts.success_criterion_prompt(task)
    assert "def is_success(cart_position" in text and "bool array" in text
    assert "reward engineer" in prompts.system_prompt()
