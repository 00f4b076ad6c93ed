"""The class bench (bench/classroom.py): its figures are computed right, and a tiny class of four
learners against two worker processes has every job run exactly once."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from bench import classroom


def job(i, created, started, finished, state="DONE", worker=None, attempts=1):
    """A finished job as the store gives it (only the fields the bench reads)."""
    return SimpleNamespace(
        id=i,
        created=created,
        started=started,
        finished=finished,
        state=state,
        error=None if state == "DONE" else "it broke",
        result={"accuracy": 0.5 + i / 10},
        worker=worker,
        worker_pid=None,
        attempts=attempts,
    )


def test_percentiles_match_numpys_and_efficiency_is_t1_over_n_tn():
    values = [3.0, 0.5, 9.0, 1.5, 4.0, 2.0, 7.5]
    for q in (0, 50, 95, 100):
        assert classroom.percentile(values, q) == pytest.approx(np.percentile(values, q))
    assert classroom.efficiency(60.0, 4, 15.0) == 1.0
    assert classroom.efficiency(60.0, 2, 40.0) == 0.75


def test_the_figures_of_a_scenario_are_computed_from_the_jobs():
    jobs = [job(1, 0.0, 0.0, 2.0, worker="h:11"), job(2, 0.0, 1.0, 3.0, worker="h:12"), job(3, 1.0, 3.0, 5.0)]
    out = classroom.summarise("wait", 2, [1, 2, 3], jobs, {1: [11], 2: [12], 3: [11]})
    assert out.exactly_once and out.problems == [] and out.done == 3
    assert out.wait_p50 == 1.0  # waits 0, 1, 2
    assert out.wait_p95 == pytest.approx(1.9)
    assert out.total == 5.0  # first queued at 0, last finished at 5
    assert out.run_mean == 2.0
    assert out.accuracy == pytest.approx(0.7)


def test_a_job_run_twice_lost_failed_or_claimed_by_another_worker_is_not_exactly_once():
    jobs = [
        job(1, 0, 0, 1, worker="h:11"),
        job(2, 0, 0, 1, state="FAILED"),
        job(3, 0, 1, 2, attempts=2),
        job(4, 0, 1, 2, worker="h:12"),
    ]
    out = classroom.summarise("wait", 2, [1, 2, 3, 4, 5], jobs, {1: [11, 12], 2: [11], 4: [11], 9: [12]})
    assert not out.exactly_once
    said = "\n".join(out.problems)
    for words in (
        "job 1 was reported 2 times",
        "job 2 ended FAILED",
        "job 3 was never reported",
        "job 3 was started 2 times",
        "job 4 was claimed by pid 12 but reported by [11]",
        "job 5 is not in the store",
        "reported job 9, which was never queued",
    ):
        assert words in said


def test_the_workers_reports_are_read_from_their_output():
    output = {
        11: ["Worker 11 ready", "job 4 (wait): DONE", "job 6 (train): FAILED"],
        12: ["job 4 (wait): DONE"],
    }
    assert classroom.reported(output) == {4: [11, 12], 6: [11]}


def test_the_estimate_scales_the_measured_run_by_the_queues_efficiency():
    def outcome(kind, learners, workers, total, p50=0.0, p95=0.0):
        return classroom.Outcome(kind, learners, workers, p50, p95, total, 0.0, learners, True, [])

    waits = [outcome("wait", 30, 1, 60.0), outcome("wait", 30, 4, 16.0, p50=6.0, p95=12.0)]
    runs = [outcome("train", 8, 1, 40.0)]  # 5 s a run
    guess = classroom.estimate(waits, runs)
    assert guess["seconds_per_run"] == 5.0
    assert guess["queue_efficiency"] == pytest.approx(60 / 64, abs=0.01)
    assert guess["total_s"] == pytest.approx(30 * 5 / (4 * 60 / 64), abs=0.1)
    assert guess["wait_p95_s"] == pytest.approx(12.0 * 5 / 2, abs=0.1)  # runs 2.5× a wait job
    assert guess["wait_p95_runs"] == 6.0 and guess["wait_p50_runs"] == 3.0  # in wait-job lengths
    assert guess["total_runs"] == pytest.approx(30 / (4 * 60 / 64), abs=0.05)
    assert "estimate" in guess["assumption"]
    assert classroom.estimate(waits, []) is None  # no measured run, no estimate


def test_four_learners_on_two_workers_each_job_runs_exactly_once():
    out = classroom.scenario("wait", 4, 2, seconds=0.2)
    assert out.exactly_once, out.problems
    assert out.done == 4 and out.learners == 4 and out.workers == 2
    assert 0.2 <= out.run_mean < 2.0
    assert out.total >= 2 * 0.2  # two rounds of 0.2 s jobs at least
    assert 0 <= out.wait_p50 <= out.wait_p95 < out.total


def test_on_a_cluster_each_jobs_counted_start_is_the_evidence():
    jobs = [job(1, 0, 0, 1, worker="h:21"), job(2, 0, 0, 1, worker="h:22", attempts=0)]
    out = classroom.summarise("wait, Dask", 2, [1, 2], jobs, {1: [99]}, dispatched=True)
    assert out.problems == ["job 2 was started 0 times"]  # job 2 unreported: fine; uncounted: not
