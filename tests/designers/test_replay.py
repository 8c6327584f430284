"""The replay designer serves recorded candidates, the same ones on a resumed run."""

from __future__ import annotations

import pytest

from rewardforge.designers.base import DesignContext
from rewardforge.designers.replay import ReplayDesigner
from rewardforge.errors import ConfigError
from rewardforge.tasks import get_task

TASK = get_task("mountaincar")


def test_serves_k_per_iteration_statelessly() -> None:
    designer = ReplayDesigner.from_codes([f"code {i}" for i in range(5)])
    first = designer.propose(2, DesignContext(TASK, iteration=1))
    again = designer.propose(2, DesignContext(TASK, iteration=1))
    assert [p.code for p in first] == [p.code for p in again] == ["code 2", "code 3"]
    assert [p.code for p in designer.propose(2, DesignContext(TASK, iteration=2))] == ["code 4"]
    assert designer.propose(2, DesignContext(TASK, iteration=3)) == []
    assert designer.remaining(1, 2) == 1
    assert designer.repair(first[0], "error", DesignContext(TASK, iteration=1)) is None


def test_reads_a_folder_of_reward_files_in_name_order(tmp_path) -> None:
    (tmp_path / "b.py").write_text("def compute_reward(position):\n    return position, {}\n")
    (tmp_path / "a.py").write_text("def compute_reward(velocity):\n    return velocity, {}\n")
    proposals = ReplayDesigner.from_path(tmp_path).propose(5, DesignContext(TASK, iteration=0))
    assert [p.notes.rsplit("/", 1)[-1] for p in proposals] == ["a.py", "b.py"]
    assert "velocity" in proposals[0].code


def test_an_empty_source_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="at least one candidate"):
        ReplayDesigner([])
