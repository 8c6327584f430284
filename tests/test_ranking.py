"""One definition of "best": ``rank_key``, used by the search, the store's summaries, the
designers' feedback and the report."""

from __future__ import annotations

import math

from rewardforge.designers.base import CandidateResult, top_results
from rewardforge.ranking import rank_key
from rewardforge.runs import Workspace
from rewardforge.runs.summary import best_candidate
from tests.runs.fake_run import REWARD_PROGRESS


def test_rank_key_orders_trained_then_fitness_then_success_then_earlier() -> None:
    keys = {
        "stopped early, high fitness": rank_key(0.9, 0.9, fully_trained=False, candidate_id=1),
        "trained, low fitness": rank_key(0.2, 0.1, candidate_id=2),
        "trained, same fitness, more success": rank_key(0.2, 0.5, candidate_id=3),
        "trained, same again, later": rank_key(0.2, 0.5, candidate_id=4),
        "trained, no fitness": rank_key(None, None, candidate_id=5),
        "trained, NaN fitness": rank_key(math.nan, 0.9, candidate_id=6),
    }
    order = sorted(keys, key=keys.get, reverse=True)
    assert order == [
        "trained, same fitness, more success",
        "trained, same again, later",
        "trained, low fitness",
        "trained, NaN fitness",
        "trained, no fitness",
        "stopped early, high fitness",
    ]
    assert rank_key(0.5, 0.5, extra=(0.3,)) > rank_key(0.5, 0.5, extra=(0.2,))


def test_the_store_and_the_designers_agree_on_the_best(tmp_path) -> None:
    store = Workspace(tmp_path).store
    run = store.create_run("mountaincar", "evolve", {})
    rows = [("stopped_early", 0.9, 0.9), ("trained", 0.5, 0.2), ("trained", 0.5, 0.4)]
    ids = []
    for slot, (status, fitness, success) in enumerate(rows):
        cid = store.add_candidate(run.id, 0, slot, REWARD_PROGRESS + f"# {slot}\n",
                                  designer="offline").id  # fmt: skip
        store.update_candidate(cid, status=status, fitness=fitness, success_rate=success)
        ids.append(cid)
    best = best_candidate(store, store.get_run(run.id))  # no best recorded: ranked
    assert best is not None and best.id == ids[2]
    results = [
        CandidateResult(
            c.id, c.code, c.fitness, c.success_rate, {}, fully_trained=c.status == "trained"
        )  # fmt: skip
        for c in store.list_candidates(run.id)
    ]
    assert [r.candidate_id for r in top_results(results, 3)] == [ids[2], ids[1], ids[0]]
