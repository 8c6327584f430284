"""The escape suite: untrusted reward code trying to get out. Each snippet runs unlinted (the
lint is feedback, not security) and must come back as a specific error with nothing escaped:
no marker file, no secret, the parent alive, the sandbox still working, and another candidate
loaded before it (a sibling in the same search) untouched."""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pytest

from rewardforge.errors import (
    RewardError,
    RewardOutputError,
    RewardRaisedError,
    RewardRejectedError,
    RewardTimeoutError,
    RewardWorkerDiedError,
)
from rewardforge.rewards.program import RewardProgram
from tests.rewards.conftest import SECRET, SECRET_NAME

GOOD = RewardProgram("def compute_reward(x):\n    return x * 2.0, {'double': x * 2.0}\n", ("x",))

RAISED, DIED, TIMEOUT, OUTPUT = (
    RewardRaisedError,
    RewardWorkerDiedError,
    RewardTimeoutError,
    RewardOutputError,
)

SABOTAGE = textwrap.dedent("""\
    import gc
    def broken(**kwargs):
        raise ValueError('sabotaged by a sibling')
    try:
        raise KeyError('x')
    except KeyError as e:
        frame = getattr(getattr(e, '_' + '_traceback__'), 'tb_frame')
    while frame is not None:
        for value in list(frame.f_locals.values()):
            table = getattr(value, 'programs', None)
            for entry in (table.values() if isinstance(table, dict) else ()):
                if entry[0] is not compute_reward:
                    entry[0] = broken
        frame = frame.f_back
    for obj in gc.get_objects():
        name = getattr(obj, '_' + '_name__', '')
        if name == 'compute_reward' and callable(obj) and obj is not compute_reward:
            setattr(obj, '_' + '_code__', getattr(broken, '_' + '_code__'))
    raise RuntimeError('sabotage attempted')""")

# (id, body of compute_reward(x) -- MARK is the marker path, SECRET_NAME the env variable --,
#  expected error, expected reason for a dead worker or text in the message)
CASES = [
    ("os_system", "import os\nos.system('touch ' + MARK)", DIED, "forbidden_syscall"),
    ("posix_system", "import posix\nposix.system('touch ' + MARK)", DIED, "forbidden_syscall"),
    (
        "subprocess",
        "import sys\nsys.modules['subprocess'].run(['touch', MARK])",
        RAISED,
        "PermissionError",
    ),
    (
        "importlib_reload",
        "import importlib, os\nimportlib.reload(os)\nos.system('touch ' + MARK)",
        DIED,
        "forbidden_syscall",
    ),
    (
        "builtins_dict",
        "b = np.__builtins__\nb['__import__']('os').system('touch ' + MARK)",
        DIED,
        "forbidden_syscall",
    ),
    (
        "subclasses_walk",
        textwrap.dedent("""\
        for cls in ().__class__.__base__.__subclasses__():
            if cls.__name__ == '_wrap_close':
                cls.__init__.__globals__['system']('touch ' + MARK)
        raise RuntimeError('walk finished')"""),
        DIED,
        "forbidden_syscall",
    ),
    (
        "ctypes_system",
        "import ctypes\nctypes.CDLL(None).system(('touch ' + MARK).encode())",
        DIED,
        "forbidden_syscall",
    ),
    (
        "ctypes_socket_syscall",
        "import ctypes\nctypes.CDLL(None).syscall(41, 2, 1, 0)",
        DIED,
        "forbidden_syscall",
    ),
    (
        "ctypes_ptrace",
        "import ctypes, os\nctypes.CDLL(None).syscall(101, 16, os.getppid(), 0, 0)",
        DIED,
        "forbidden_syscall",
    ),
    ("numpy_chain_to_os", "np.f2py.os.system('touch ' + MARK)", RAISED, "f2py"),
    (
        "numpy_chain_to_sys",
        "np.testing.extbuild.sys.modules['os'].system('touch ' + MARK)",
        RAISED,
        "testing",
    ),
    ("read_etc_passwd", "open('/etc/passwd').read()", RAISED, "PermissionError"),
    ("proc_self_environ", "open('/proc/self/environ').read()", RAISED, "PermissionError"),
    (
        "parent_environ",
        "import os\nopen('/proc/%d/environ' % os.getppid()).read()",
        RAISED,
        "PermissionError",
    ),
    ("write_marker", "open(MARK, 'w').write('escaped')", RAISED, "PermissionError"),
    ("np_save", "np.save(MARK, x)", RAISED, "PermissionError"),
    ("np_load", "np.load('/etc/passwd', allow_pickle=True)", RAISED, "PermissionError"),
    ("np_fromfile", "np.fromfile('/etc/passwd', dtype=np.uint8)", RAISED, "PermissionError"),
    ("socket_import", "import socket\nsocket.create_connection(('1.1.1.1', 80))", RAISED, "socket"),
    (
        "signal_parent",
        "import os, signal\nos.kill(os.getppid(), signal.SIGTERM)",
        DIED,
        "forbidden_syscall",
    ),
    ("signal_everyone", "import os\nos.kill(-1, 9)", DIED, "forbidden_syscall"),
    ("fork_bomb", "import os\nwhile True:\n    os.fork()", DIED, "forbidden_syscall"),
    ("memory_bomb", "y = np.ones(10**10)", DIED, "memory"),
    ("list_memory_bomb", "y = [0] * 10**10", DIED, "memory"),
    ("infinite_loop", "while True:\n    pass", TIMEOUT, "did not return"),
    (
        "ignores_sigalrm",
        "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nsignal.alarm(1)\nwhile True:\n    pass",
        TIMEOUT,
        "did not return",
    ),
    (
        "overwrite_isfinite",
        "np.isfinite = lambda a: np.ones(np.shape(a), dtype=bool)\nreturn x * np.nan, {}",
        OUTPUT,
        "NaN",
    ),
    ("nan", "return x * np.nan, {}", OUTPUT, "NaN"),
    ("inf", "return x * 0 + np.inf, {}", OUTPUT, "infinite"),
    ("wrong_shape", "return np.stack([x, x], axis=1), {}", OUTPUT, "shape"),
    ("wrong_type", "return 'high', {}", OUTPUT, "numeric"),
    ("not_a_tuple", "return x", OUTPUT, "must return"),
    ("huge_values", "return x * 1e300, {}", OUTPUT, "outside the allowed range"),
    (
        "raises",
        "y = 1\nraise ValueError('bad value %d' % y)",
        RAISED,
        "ValueError: bad value 1 on line 6",
    ),
    ("os_exit", "import os\nos._exit(0)", DIED, "exit"),
    ("sys_exit", "import sys\nsys.exit(3)", RAISED, "SystemExit"),
    (
        "forged_reply",
        "import os\nfor fd in range(3, 4096):  # the worker keeps the parent's fd numbers\n    try:\n        os.write(fd, b'\\xff' * 64)\n    except OSError:\n        pass\nreturn x, {}",
        DIED,
        "protocol",
    ),
    (
        "setrlimit",
        "import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))",
        DIED,
        "forbidden_syscall",
    ),
    (
        "unshare_back",
        "import ctypes\nctypes.CDLL(None).unshare(0x40000000)",
        DIED,
        "forbidden_syscall",
    ),
    # issue 20: walk from a caught exception's frame to the worker's table of programs (no
    # literal dunder attribute, so the lint passes) and the heap, and replace every other
    # candidate's function
    ("sabotage_siblings", SABOTAGE, RAISED, "sabotage attempted"),
]


def _program(body: str, marker: str) -> RewardProgram:
    source = (
        "import numpy as np\n"
        f"MARK = {marker!r}\n"
        f"SECRET_NAME = {SECRET_NAME!r}\n"
        "def compute_reward(x):\n" + textwrap.indent(body, "    ") + "\n    return x, {}\n"
    )
    return RewardProgram(source, ("x",))


@pytest.mark.parametrize(("case", "body", "expected", "detail"), CASES, ids=[c[0] for c in CASES])
def test_escape_is_contained(sandbox, batch, tmp_path, case, body, expected, detail):
    marker = str(tmp_path / f"{case}.escaped")
    sibling = sandbox.add(GOOD)  # another candidate of the same search, loaded first
    key = sandbox.add(_program(body, marker))
    with pytest.raises(expected) as caught:
        sandbox.evaluate(key, batch)
    error = caught.value
    if isinstance(error, RewardWorkerDiedError):
        assert error.reason == detail
        assert error.quarantined == (detail not in ("memory", "cpu"))
    else:
        assert detail in str(error)
    assert not os.path.exists(marker), "the reward code wrote a file outside the sandbox"
    assert not list(tmp_path.iterdir())
    assert SECRET not in str(error)
    assert os.environ[SECRET_NAME] == SECRET  # the parent is alive and unchanged
    # the other candidate is untouched, and the sandbox still works for new ones
    assert np.allclose(sandbox.evaluate(sibling, batch).reward, batch["x"] * 2.0)
    good = sandbox.add(GOOD)
    assert np.allclose(sandbox.evaluate(good, batch).reward, batch["x"] * 2.0)
    for k in (good, key, sibling):
        sandbox.remove(k)


def test_candidate_cannot_sabotage_another_in_the_same_call(sandbox, batch):
    """Issue 20: both candidates evaluated together, the saboteur first; the sibling's result
    is its own, now and on every later call."""
    sibling = sandbox.add(GOOD)
    saboteur = sandbox.add(_program(SABOTAGE, "/nonexistent"))
    for _ in range(2):
        first, second = sandbox.evaluate_many([saboteur, sibling], batch)
        assert isinstance(first, RewardRaisedError) and "sabotage attempted" in str(first)
        assert not isinstance(second, RewardError), second
        assert np.allclose(second.reward, batch["x"] * 2.0)
    assert sandbox.pid(saboteur) != sandbox.pid(sibling)


def test_environment_is_empty(sandbox, batch):
    body = "import os\nfound = SECRET_NAME in os.environ or any('sk-' in v for v in os.environ.values())\nreturn x * 0 + float(found), {}"
    key = sandbox.add(_program(body, "/nonexistent"))
    assert not sandbox.evaluate(key, batch).reward.any()


def test_quarantined_program_is_not_run_again(sandbox, batch):
    key = sandbox.add(_program("import os\nos.fork()", "/nonexistent"))
    with pytest.raises(RewardWorkerDiedError, match="forbidden system call"):
        sandbox.evaluate(key, batch)
    restarts = sandbox.num_restarts
    with pytest.raises(RewardWorkerDiedError, match="quarantined") as again:
        sandbox.evaluate(key, batch)
    assert again.value.quarantined
    assert sandbox.quarantined(key) is not None
    assert sandbox.num_restarts == restarts  # answered from the record, no new worker


def test_sys_modules_tampering_does_not_reach_other_programs(sandbox, batch):
    tamper = _program(
        "import sys\nclass Fake:\n    def abs(self, a):\n        return a * 0 + 1e9\n"
        "sys.modules['numpy'] = Fake()\nnp.abs = lambda a: a * 0 + 1e9",
        "/nonexistent",
    )
    honest = RewardProgram(
        "import numpy as np\ndef compute_reward(x):\n    import numpy\n"
        "    return numpy.abs(x) + np.abs(x), {}\n",
        ("x",),
    )
    keys = [sandbox.add(tamper), sandbox.add(honest)]
    first, second = sandbox.evaluate_many(keys, batch)
    assert not isinstance(first, RewardError)
    assert np.allclose(second.reward, 2 * np.abs(batch["x"]))


def test_syntax_error_is_rejected_at_add(sandbox):
    with pytest.raises(RewardRejectedError, match="line 2"):
        sandbox.add(RewardProgram("def compute_reward(x):\n    return x +, {}\n", ("x",)))


def test_module_level_code_runs_under_the_deadline(sandbox):
    with pytest.raises(RewardTimeoutError):
        sandbox.add(
            RewardProgram(
                "while True:\n    pass\ndef compute_reward(x):\n    return x, {}\n", ("x",)
            )
        )
