from __future__ import annotations

import multiprocessing
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from rewardforge.errors import RunError, RunNotFoundError
from rewardforge.runs import RunStore, Workspace, content_hash, process_alive, resolve_root
from rewardforge.runs.details import CandidateDetails, MemberDetails, ProposalDetails
from rewardforge.runs.migrations import MIGRATIONS, applied_migrations
from rewardforge.runs.summary import effective_status, human_normalized_score, run_summary
from tests.runs.fake_run import REWARD_ENERGY, REWARD_PROGRESS, make_fake_run


@pytest.fixture
def workspace(tmp_path):
    ws = Workspace(tmp_path / "ws")
    yield ws
    ws.close()


def test_migrations_are_named_recorded_and_applied_once(workspace):
    store = workspace.store
    names = [name for name, _ in MIGRATIONS]
    assert applied_migrations(store._conn()) == names
    again = RunStore(store.path)
    assert applied_migrations(again._conn()) == names
    mode = store._conn().execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_create_run_id_config_and_versions(workspace):
    run = workspace.store.create_run("mountaincar", "evolve", {"num_iterations": 3})
    assert re.fullmatch(r"mountaincar__evolve__\d{8}-\d{6}__[0-9a-f]{4}", run.id)
    assert run.status == "running"
    assert run.config == {"num_iterations": 3}
    assert set(run.versions) == {"rewardforge", "python", "numpy", "torch", "gymnasium"}
    assert run.pid == os.getpid()
    with pytest.raises(RunError, match="already exists"):
        workspace.store.create_run("mountaincar", "evolve", {}, run_id=run.id)


def test_get_run_by_prefix_ambiguous_and_did_you_mean(workspace):
    store = workspace.store
    a = store.create_run(
        "cartpole", "oneshot", {}, run_id="cartpole__oneshot__20250101-000000__aaaa"
    )
    store.create_run("cartpole", "oneshot", {}, run_id="cartpole__oneshot__20250101-000000__bbbb")
    assert store.get_run("cartpole__oneshot__20250101-000000__a").id == a.id
    with pytest.raises(RunError, match="matches 2 runs"):
        store.get_run("cartpole__oneshot")
    with pytest.raises(
        RunNotFoundError, match="Did you mean 'cartpole__oneshot__20250101-000000__aaaa'"
    ):
        store.get_run("cartpole__oneshot__20250101-000000__aaab")
    with pytest.raises(RunNotFoundError, match="rewardforge runs"):
        store.get_run("zzz")
    # '_' and '%' in a prefix are literal, not LIKE wildcards
    with pytest.raises(RunNotFoundError):
        store.get_run("cartpole%")


def test_candidates_are_idempotent_per_slot(workspace):
    store = workspace.store
    run = store.create_run("mountaincar", "evolve", {})
    first = store.add_candidate(run.id, 0, 0, REWARD_PROGRESS, designer="offline")
    again = store.add_candidate(run.id, 0, 0, REWARD_PROGRESS + "\n\n", designer="offline")
    assert again == first
    assert first.content_hash == content_hash(REWARD_PROGRESS)
    with pytest.raises(RunError, match="different code"):
        store.add_candidate(run.id, 0, 0, REWARD_ENERGY, designer="offline")
    retry = store.add_candidate(run.id, 0, 0, REWARD_ENERGY, designer="offline", attempt=1)
    assert retry.id != first.id
    assert store.find_candidate(run.id, 0, 0, attempt=1) == retry
    assert store.find_candidate(run.id, 0, 5) is None


def test_update_candidate_merges_details_and_checks_status(workspace):
    store = workspace.store
    run = store.create_run("mountaincar", "evolve", {})
    proposed = CandidateDetails(proposal=ProposalDetails(notes="first"))
    cand = store.add_candidate(run.id, 0, 0, REWARD_PROGRESS, designer="offline", details=proposed)
    joined = CandidateDetails(member=MemberDetails(member=1, joined_at_step=0))
    store.update_candidate(cand.id, details=joined)
    left = CandidateDetails(member=MemberDetails(left_at_step=400))  # merged field by field
    cand = store.update_candidate(
        cand.id, status="trained", fitness=0.5, success_rate=0.25, details=left
    )
    assert (cand.status, cand.fitness, cand.success_rate) == ("trained", 0.5, 0.25)
    assert cand.details.proposal == ProposalDetails(notes="first")
    assert cand.details.member == MemberDetails(member=1, joined_at_step=0, left_at_step=400)
    assert cand.details.training is None  # a step that has not run has no section
    with pytest.raises(RunError, match="candidate status must be one of .*Did you mean 'trained'"):
        store.update_candidate(cand.id, status="trainedd")
    with pytest.raises(RunError, match="no candidate with id 999"):
        store.get_candidate(999)


def test_trainings_are_found_on_resume_and_upserted(workspace):
    store = workspace.store
    run = store.create_run("mountaincar", "evolve", {})
    cand = store.add_candidate(run.id, 0, 0, REWARD_PROGRESS, designer="offline")
    assert store.find_training(cand.id, 0, 1000) is None
    store.record_training(cand.id, seed=0, budget_steps=1000, status="failed", metrics={"x": 1})
    t = store.record_training(
        cand.id, seed=0, budget_steps=1000, fitness=0.25, metrics={"curve": {}}
    )
    assert store.find_training(cand.id, 0, 1000) == t
    assert (t.status, t.fitness, t.metrics) == ("finished", 0.25, {"curve": {}})
    store.record_training(cand.id, seed=1, budget_steps=1000, fitness=0.5)
    assert [x.seed for x in store.list_trainings(run.id)] == [0, 1]
    assert len(store.list_trainings(candidate_id=cand.id)) == 2


def test_evaluations_model_usage_and_summary(workspace):
    run = make_fake_run(workspace)
    store = workspace.store
    finals = store.list_evaluations(run.id, kind="final")
    assert len(finals) == 1 and finals[0].mean == pytest.approx(0.9)
    with pytest.raises(RunError, match="exactly one of candidate_id or baseline"):
        store.record_evaluation(run.id, kind="final", per_seed=[1.0], seeds=[0])
    with pytest.raises(RunError, match="one value per seed"):
        store.record_evaluation(
            run.id, kind="baseline", baseline="env", per_seed=[1.0], seeds=[0, 1]
        )
    usage = store.model_usage(run.id)
    assert (usage.num_calls, usage.num_cached) == (5, 1)
    assert usage.prompt_tokens == 4 * 1800 and usage.cost_usd == pytest.approx(4 * 0.0007)
    summary = run_summary(store, run.id[:20])
    assert summary["run"]["status"] == "finished"
    assert summary["best"]["fitness"] == 0.9
    assert summary["human_normalized_score"] == pytest.approx((0.9 - 1 / 30) / (0.6 - 1 / 30))
    assert len(summary["candidates"]) == 8 and len(summary["iterations"]) == 2
    assert human_normalized_score(1.0, 0.5, 0.5) is None


def test_run_status_summary_and_stale_runs(workspace):
    store = workspace.store
    run = store.create_run("mountaincar", "evolve", {})
    run = store.set_run_status(run.id, "interrupted", summary={"a": 1})
    run = store.set_run_status(run.id, "failed", summary={"b": 2}, error="boom")
    assert (run.status, run.summary, run.error) == ("failed", {"a": 1, "b": 2}, "boom")
    with pytest.raises(RunError, match="run status must be one of"):
        store.set_run_status(run.id, "done")
    # a "running" run whose process died (SIGKILL) shows as interrupted
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    run = store.set_run_status(run.id, "running")
    with store._write() as conn:
        conn.execute("UPDATE runs SET pid = ? WHERE id = ?", (proc.pid, run.id))
    run = store.get_run(run.id)
    assert process_alive(run) is False
    assert effective_status(run) == "interrupted"


def test_summary_update_leaves_status_error_and_owner_alone(workspace):
    store = workspace.store
    run = store.create_run("mountaincar", "evolve", {})
    store.set_run_status(run.id, "failed", summary={"a": 1}, error="boom")
    with store._write() as conn:  # owned by another process, as a search beside a `report`
        conn.execute("UPDATE runs SET pid = ?, host = ? WHERE id = ?", (1, "elsewhere", run.id))
    after = store.update_run_summary(run.id, {"animation_error": "no renderer"})
    assert after.summary == {"a": 1, "animation_error": "no renderer"}
    assert (after.status, after.error, after.pid, after.host) == ("failed", "boom", 1, "elsewhere")
    with pytest.raises(RunError, match="no run 'nope'"):
        store.update_run_summary("nope", {})


def test_workspace_root_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("REWARDFORGE_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_root() == tmp_path.joinpath("runs").relative_to(tmp_path)
    assert Workspace().root == tmp_path / "runs"
    monkeypatch.setenv("REWARDFORGE_HOME", str(tmp_path / "home"))
    assert Workspace().root == tmp_path / "home"
    assert Workspace(tmp_path / "arg").root == tmp_path / "arg"
    ws = Workspace(tmp_path / "arg")
    assert not ws.exists
    run_dir = ws.run_dir("r1")
    assert {p.name for p in run_dir.iterdir()} == {"rewards", "checkpoints", "tb"}
    assert ws.model_cache_path == tmp_path / "arg" / "model_cache.sqlite"
    assert ws.report_path("r1") == run_dir / "report.html"


def _write_many(store: RunStore, task: str, num: int, queue) -> None:
    try:
        run = store.create_run(task, "evolve", {})
        for i in range(num):
            cand = store.add_candidate(run.id, i // 4, i % 4, f"# {task} {i}\n", designer="x")
            store.update_candidate(cand.id, status="trained", fitness=i / num)
            store.record_training(cand.id, seed=0, budget_steps=10, fitness=i / num)
            store.record_model_call(run.id, request_hash=str(i), provider="p", model="m")
        store.set_run_status(run.id, "finished")
        queue.put((run.id, None))
    except Exception as exc:  # pragma: no cover - reported to the parent
        queue.put((None, repr(exc)))


def test_two_processes_write_runs_at_once(workspace):
    store = workspace.store  # migrations applied; the store travels to children by path
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_write_many, args=(store, task, 60, queue)) for task in ("a", "b")]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [err for _, err in results] == [None, None]
    for run_id, _ in results:
        assert store.get_run(run_id).status == "finished"
        cands = store.list_candidates(run_id)
        assert len(cands) == 60 and all(c.status == "trained" for c in cands)
        assert len(store.list_trainings(run_id)) == 60
        assert store.model_usage(run_id).num_calls == 60


WRITER = """
import sys
from rewardforge.runs import RunStore
store = RunStore(sys.argv[1])
run = store.create_run("k", "evolve", {})
print(run.id, flush=True)
i = 0
while True:
    c = store.add_candidate(run.id, i, 0, "# %d" % i, designer="x")
    store.record_training(c.id, seed=0, budget_steps=1, fitness=0.5)
    i += 1
"""


def test_store_survives_sigkill_mid_write(workspace):
    store = workspace.store
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store.path)], stdout=subprocess.PIPE, text=True
    )
    run_id = proc.stdout.readline().strip()
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    cands = store.list_candidates(run_id)
    assert cands, "the writer committed nothing before it was killed"
    # every candidate but possibly the last has its training: short transactions, nothing lost
    trained = {t.candidate_id for t in store.list_trainings(run_id)}
    assert {c.id for c in cands[:-1]} <= trained


def test_iteration_digest_for_human_feedback(workspace):
    from rewardforge.runs.summary import iteration_digest

    run = make_fake_run(workspace)
    text = iteration_digest(workspace.store, run.id, 0, animation_path="/tmp/best.gif")
    assert text.splitlines()[0] == "iteration 0: 4 candidates, 3 with a fitness, 1 failed"
    assert "fitness 0.6" in text and "progress: mean 0.4, std 0.1" in text
    assert "effort: first -0.02, last -0.008" in text
    assert "failed (raised): ZeroDivisionError" in text and "/tmp/best.gif" in text
