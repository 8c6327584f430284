"""Sandbox overhead: extra microseconds per reward call over an in-process call, and start-up.

    .venv/bin/python benchmarks/sandbox_overhead.py            # table
    .venv/bin/python benchmarks/sandbox_overhead.py --json     # for scripts

The reward is a typical vectorized CartPole-style program reading four variables. Each figure is
the median over many calls (per-call ``perf_counter_ns``), so other processes on a shared
machine move it less than a mean would. "extra" = sandboxed median - in-process median.
Targets (issue 3): at most 60 us extra at batch 1024; start-up under 0.3 s. Since issue 20 each
program has a worker of its own, forked from the sandbox's template: "add" is what that costs
per program (fork, confine, load), with the memory each worker adds (proportional set size).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from rewardforge.rewards.program import RewardProgram
from rewardforge.rewards.sandbox import RewardSandbox

SOURCE = """\
import numpy as np

def compute_reward(cart_position, cart_velocity, pole_angle, pole_angular_velocity):
    upright = np.cos(pole_angle)
    centered = -0.1 * np.abs(cart_position)
    calm = -0.01 * (cart_velocity ** 2 + pole_angular_velocity ** 2)
    return upright + centered + calm, {"upright": upright, "centered": centered, "calm": calm}
"""
PARAMS = ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity")


def _median_us(call, repeats: int) -> float:
    for _ in range(min(200, repeats)):
        call()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000.0


def measure_calls(sandbox: RewardSandbox, batches: list[int], repeats: int) -> list[dict]:
    program = RewardProgram(SOURCE, PARAMS)
    key = sandbox.add(program)
    namespace: dict = {}
    exec(compile(program.source, "<reward>", "exec"), namespace)  # noqa: S102 - our own code
    function = namespace["compute_reward"]
    rng = np.random.default_rng(0)
    rows = []
    for batch in batches:
        transition = {name: rng.normal(size=batch) for name in PARAMS}
        transition["_env_reward"] = np.ones(batch)
        transition["_success"] = np.zeros(batch, dtype=bool)
        args = {name: transition[name] for name in PARAMS}
        inproc = _median_us(lambda a=args: function(**a), repeats)
        sandboxed = _median_us(lambda t=transition: sandbox.evaluate(key, t), repeats)
        rows.append(
            {
                "batch": batch,
                "in_process_us": round(inproc, 1),
                "sandboxed_us": round(sandboxed, 1),
                "extra_us": round(sandboxed - inproc, 1),
            }
        )
    sandbox.remove(key)
    return rows


def measure_population(sandbox: RewardSandbox, num_programs: int, batch: int, repeats: int) -> dict:
    """``evaluate_many`` over a population (one round trip) against one call per program."""
    keys = [
        sandbox.add(RewardProgram(SOURCE.replace("0.1 *", f"{0.1 + i / 100:.2f} *"), PARAMS))
        for i in range(num_programs)
    ]
    rng = np.random.default_rng(1)
    transition = {name: rng.normal(size=batch) for name in PARAMS}
    many = _median_us(lambda: sandbox.evaluate_many(keys, transition), repeats)
    each = _median_us(lambda: [sandbox.evaluate(k, transition) for k in keys], repeats)
    for key in keys:
        sandbox.remove(key)
    return {
        "num_programs": num_programs,
        "batch": batch,
        "evaluate_many_us": round(many, 1),
        "one_call_each_us": round(each, 1),
    }


def measure_pipe_floor(repeats: int) -> float:
    """Median round trip of one byte to a child process blocked in ``read`` and back, the
    parent polling its end as the sandbox's channel does: the wake-up cost any call into
    another process pays on this machine, before any sandbox work."""
    import os

    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child echoes until told to stop
        while os.read(to_child_r, 1) == b"a":
            os.write(to_parent_w, b"x")
        os._exit(0)

    os.set_blocking(to_parent_r, False)

    def round_trip() -> None:
        os.write(to_child_w, b"a")
        while True:
            try:
                os.read(to_parent_r, 1)
                return
            except BlockingIOError:
                continue

    try:
        return _median_us(round_trip, repeats)
    finally:
        os.write(to_child_w, b"q")
        os.waitpid(pid, 0)
        for fd in (to_child_r, to_child_w, to_parent_r, to_parent_w):
            os.close(fd)


def _pss_kib(pid: int | None) -> float | None:
    """Proportional set size of a process (its share of pages it shares with others)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return float(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def measure_programs(sandbox: RewardSandbox, num: int) -> dict:
    """Time of ``add`` (a worker forked and the program loaded) and the memory per worker."""
    times, keys = [], []
    for i in range(num):
        program = RewardProgram(SOURCE.replace("0.1 *", f"{0.1 + i / 1000:.3f} *"), PARAMS)
        start = time.perf_counter()
        keys.append(sandbox.add(program))
        times.append(time.perf_counter() - start)
    pid = getattr(sandbox, "pid", None)
    pss = [_pss_kib(pid(k)) for k in keys] if pid else []
    for key in keys:
        sandbox.remove(key)
    return {
        "add_median_ms": round(statistics.median(times) * 1000, 2),
        "add_max_ms": round(max(times) * 1000, 2),
        "worker_pss_mib": round(statistics.median(pss) / 1024, 1)
        if pss and None not in pss
        else None,
        "template_pss_mib": round((_pss_kib(sandbox.worker_pid) or 0) / 1024, 1),
    }


def measure_startup(num: int) -> dict:
    """Wall time of ``RewardSandbox()`` (spawn, import numpy, confine, ready)."""
    times = []
    for _ in range(num):
        start = time.perf_counter()
        box = RewardSandbox()
        times.append(time.perf_counter() - start)
        box.close()
    return {
        "startup_median_s": round(statistics.median(times), 3),
        "startup_max_s": round(max(times), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3000, help="calls per measurement")
    parser.add_argument("--startups", type=int, default=10, help="worker starts to time")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with RewardSandbox(mode="strict") as sandbox:
        rows = measure_calls(sandbox, [1, 64, 1024], args.repeats)
        population = measure_population(sandbox, 16, 1024, max(100, args.repeats // 10))
        programs = measure_programs(sandbox, 16)
    startup = measure_startup(args.startups)
    floor = round(measure_pipe_floor(args.repeats), 1)
    if args.json:
        out = {
            "calls": rows,
            "population": population,
            "programs": programs,
            **startup,
            "pipe_round_trip_us": floor,
        }
        print(json.dumps(out, indent=2))
        return
    print(f"{'batch':>6} {'in-process us':>14} {'sandboxed us':>13} {'extra us':>9}")
    for row in rows:
        print(
            f"{row['batch']:>6} {row['in_process_us']:>14} {row['sandboxed_us']:>13} "
            f"{row['extra_us']:>9}"
        )
    print(
        f"population of {population['num_programs']} programs at batch {population['batch']}: "
        f"evaluate_many {population['evaluate_many_us']} us, one call each "
        f"{population['one_call_each_us']} us"
    )
    print(
        f"add a program (its own worker): median {programs['add_median_ms']} ms, max "
        f"{programs['add_max_ms']} ms; memory per worker {programs['worker_pss_mib']} MiB "
        f"(proportional set size), template {programs['template_pss_mib']} MiB"
    )
    print(f"bare pipe round trip between two processes (the floor): {floor} us")
    print(
        f"worker start-up: median {startup['startup_median_s']} s, "
        f"max {startup['startup_max_s']} s ({args.startups} starts)"
    )


if __name__ == "__main__":
    main()
