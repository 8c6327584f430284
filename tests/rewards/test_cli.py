from __future__ import annotations

import json

CODE = "import numpy as np\ndef compute_reward(pole_angle):\n    return np.cos(pole_angle), {'upright': np.cos(pole_angle)}\n"


def test_sandbox_command(run_cli):
    result = run_cli("sandbox", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    names = [layer["name"] for layer in data["layers"]]
    assert "seccomp" in names and "landlock" in names
    text = run_cli("sandbox")
    assert "sandbox layers" in text.stdout and "seccomp" in text.stdout


def test_check_command_ok_and_json(run_cli, tmp_path):
    path = tmp_path / "reward.py"
    path.write_text(CODE)
    result = run_cli("check", "cartpole", str(path), "--num-states", "64")
    assert result.returncode == 0, result.stderr
    assert "upright" in result.stdout and "verdict: OK" in result.stdout
    data = json.loads(run_cli("check", "cartpole", str(path), "--json").stdout)
    assert data["ok"] and [c["name"] for c in data["components"]] == ["reward", "upright"]


def test_check_command_reports_errors(run_cli, tmp_path):
    path = tmp_path / "answer.md"
    path.write_text("```python\n" + CODE.replace("pole_angle)", "pole_angel)", 1) + "```\n")
    result = run_cli("check", "cartpole", str(path))
    assert result.returncode == 1
    assert "Did you mean 'pole_angle'" in result.stderr
    crash = tmp_path / "crash.py"
    crash.write_text("def compute_reward(pole_angle):\n    return 1 / 0, {}\n")
    data = json.loads(run_cli("check", "cartpole", str(crash), "--json").stdout)
    assert not data["ok"] and data["error"]["kind"] == "raised"
    assert "ZeroDivisionError" in data["error"]["message"] and "line 2" in data["error"]["message"]
