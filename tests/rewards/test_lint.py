from __future__ import annotations

import pytest

from rewardforge.errors import RewardRejectedError
from rewardforge.rewards.lint import lint_reward

VARS = ("tip_pos", "goal_pos", "action")


def test_valid_program_with_helpers_and_constants():
    source = (
        '"""A reward."""\nimport numpy as np\nimport math\nfrom numpy.linalg import norm\n'
        "SCALE = 0.1\n\ndef dist(a, b):\n    return norm(a - b, axis=-1)\n\n"
        'def compute_reward(tip_pos, goal_pos):\n    """Reach."""\n'
        "    d = dist(tip_pos, goal_pos)\n    return np.exp(-d / SCALE), {'reach': np.exp(-d)}\n"
    )
    linted = lint_reward(source, VARS)
    assert linted.params == ("tip_pos", "goal_pos")
    assert linted.helpers == ("dist",)
    assert linted.imports == ("numpy", "math", "numpy.linalg")
    assert linted.docstring == "Reach."


def test_unknown_parameter_suggests_the_close_name():
    source = "def compute_reward(tip_pso, action):\n    return action, {}\n"
    with pytest.raises(
        RewardRejectedError,
        match=r"line 1: parameter 'tip_pso'.*Did you mean 'tip_pos'\?.*Valid names: tip_pos, goal_pos, action",
    ):
        lint_reward(source, VARS)


def test_internal_keys_are_not_parameters():
    with pytest.raises(
        RewardRejectedError, match="'_env_reward' of compute_reward is not a variable"
    ):
        lint_reward("def compute_reward(_env_reward):\n    return _env_reward, {}\n", VARS)


def test_syntax_error_has_line_and_caret():
    with pytest.raises(
        RewardRejectedError,
        match=r"syntax error on line 2: invalid syntax\n        return action \+\n +\^",
    ):
        lint_reward("def compute_reward(action):\n    return action +\n", VARS)


def test_imports_outside_numpy_and_math_are_listed_with_lines():
    source = "import os\nimport numpy as np\ndef compute_reward(action):\n    import subprocess\n    return action, {}\n"
    with pytest.raises(RewardRejectedError) as caught:
        lint_reward(source, VARS)
    message = str(caught.value)
    assert "line 1: imports 'os'" in message and "line 4: imports 'subprocess'" in message
    assert "only numpy and math" in message


def test_missing_and_duplicate_entry():
    with pytest.raises(
        RewardRejectedError, match=r"no function named compute_reward \(found reward\)"
    ):
        lint_reward("def reward(action):\n    return action, {}\n", VARS)
    dup = "def compute_reward(action):\n    return action, {}\n\ndef compute_reward(action):\n    return action, {}\n"
    with pytest.raises(
        RewardRejectedError, match=r"line 4: defines compute_reward 2 times \(lines 1 and 4\)"
    ):
        lint_reward(dup, VARS)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("open('/etc/passwd')", "calls open()"),
        ("().__class__", "dunder attributes"),
        ("__builtins__", "dunder names"),
        ("eval('1')", "calls eval()"),
    ],
)
def test_suspicious_code_gets_feedback(body, text):
    with pytest.raises(RewardRejectedError, match=text):
        lint_reward(f"def compute_reward(action):\n    {body}\n    return action, {{}}\n", VARS)


def test_top_level_statements_and_star_args():
    with pytest.raises(RewardRejectedError, match="line 1: top-level for statement"):
        lint_reward(
            "for i in range(3):\n    pass\ndef compute_reward(action):\n    return action, {}\n",
            VARS,
        )
    with pytest.raises(RewardRejectedError, match=r"\*args or \*\*kwargs"):
        lint_reward("def compute_reward(**kw):\n    return 0, {}\n", VARS)
