"""Progress as named hooks; making a ``Search`` writes nothing."""

from __future__ import annotations

import rewardforge as rf
from rewardforge.runs.records import ModelUsage
from rewardforge.search.callbacks import (
    CallbackList,
    CandidateScored,
    FeedbackRequest,
    ModelUsed,
    SearchCallback,
)
from tests.search.support import make_config


class Scores(SearchCallback):
    def __init__(self) -> None:
        self.seen: list[int] = []

    def on_candidate_scored(self, event: CandidateScored) -> None:
        self.seen.append(event.candidate_id)


class Answers(SearchCallback):
    def __init__(self, text: str | None) -> None:
        self.text = text

    def on_feedback_request(self, event: FeedbackRequest) -> str | None:
        return self.text


def test_a_callback_overrides_only_the_hooks_it_needs() -> None:
    scores = Scores()
    hooks = CallbackList([SearchCallback(), scores])
    hooks.on_candidate_scored(CandidateScored(0, 7, "trained", 0.5, 0.5))
    hooks.on_model_used(ModelUsed(0, ModelUsage()))  # nobody listens: nothing happens
    assert scores.seen == [7]


def test_the_first_answer_to_a_feedback_request_wins() -> None:
    request = FeedbackRequest(0, "digest")
    assert (
        CallbackList([Answers(None), Answers("go right"), Answers("no")]).on_feedback_request(
            request
        )
        == "go right"
    )
    assert CallbackList([Answers(None)]).on_feedback_request(request) is None


def test_making_a_search_writes_nothing(tmp_path) -> None:
    search = rf.Search(make_config("mountaincar"), tmp_path / "ws", callbacks=[Scores()])
    assert search.run_id is None and not (tmp_path / "ws").exists()


def test_a_users_callback_sees_every_candidate_scored(tmp_path) -> None:
    scores = Scores()
    result = rf.search(
        "mountaincar", samples=2, iterations=1, steps=300, num_envs=2, final_seeds=0,
        workers=1, workspace=tmp_path, callbacks=[scores],
    )  # fmt: skip
    stored = rf.Workspace(tmp_path).store.list_candidates(result.run_id)
    assert sorted(scores.seen) == sorted(c.id for c in stored)
