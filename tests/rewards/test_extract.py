from __future__ import annotations

import pytest

from rewardforge.errors import RewardExtractionError
from rewardforge.rewards.extract import extract_code

CODE = "import numpy as np\n\ndef compute_reward(x):\n    return x, {'x': x}\n"


def test_python_fence_with_prose():
    answer = f"Here is my reward.\n\n```python\n{CODE}```\n\nIt pays for x."
    assert extract_code(answer) == CODE


def test_bare_fence_and_tilde_fence():
    assert extract_code(f"```\n{CODE}```") == CODE
    assert extract_code(f"~~~py\n{CODE}~~~") == CODE


def test_reasoning_section_is_dropped():
    answer = (
        f"<think>maybe def compute_reward(y): return y</think>\nFinal answer:\n```python\n{CODE}```"
    )
    assert extract_code(answer) == CODE


def test_several_blocks_take_last_definition_and_keep_helpers():
    answer = (
        "First a helper:\n```python\ndef shaped(d):\n    return -d\n\nSCALE = 2.0\n```\n"
        "A draft:\n```python\ndef compute_reward(x):\n    return x, {}\n```\n"
        "Final:\n```python\ndef compute_reward(x):\n    r = shaped(x) * SCALE\n    return r, {'r': r}\n```\n"
        "And a usage example:\n```bash\npython train.py\n```"
    )
    code = extract_code(answer)
    assert "def shaped(d)" in code and "SCALE = 2.0" in code
    assert code.count("def compute_reward") == 1 and "shaped(x) * SCALE" in code
    compile(code, "<test>", "exec")


def test_unfenced_code_in_prose():
    answer = "Sure. The reward is:\nimport numpy as np\ndef compute_reward(x):\n    return x, {}\nThis rewards x."
    assert extract_code(answer) == "import numpy as np\ndef compute_reward(x):\n    return x, {}\n"


def test_stray_indentation():
    answer = (
        "```python\n    import numpy as np\n    def compute_reward(x):\n        return x, {}\n```"
    )
    assert extract_code(answer) == "import numpy as np\ndef compute_reward(x):\n    return x, {}\n"


def test_truncated_fence_still_extracts():
    assert "def compute_reward" in extract_code(f"```python\n{CODE}")


def test_no_function_quotes_the_answer():
    with pytest.raises(
        RewardExtractionError, match=r"no function named compute_reward.*'I cannot help"
    ):
        extract_code("I cannot help with that, but here is a poem.")
    with pytest.raises(RewardExtractionError, match="empty"):
        extract_code("   ")
