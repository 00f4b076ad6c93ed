"""A sweep on the Sweep page: progress and Stop while it runs, then what each setting did."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import tasks
from core.jobs.store import ACTIVE
from dashboard import compare_figures, identity, runs, state
from dashboard.train_form import fill_from_config
from dashboard.views.sweep_form import TEXT


def sweep_list() -> list[tuple[int, str]]:
    """(id, label) of every sweep of the current space (all of them for a store that sees
    everyone), newest first."""
    store = runs.store()
    where, args = store.scope()
    rows = store.read(f"SELECT id, name, state FROM sweeps WHERE 1=1{where} ORDER BY id DESC", tuple(args))
    return [
        (
            int(r["id"]),
            f"sweep {r['id']}" + (f" · {r['name']}" if r["name"] else "") + f" ({r['state'].lower()})",
        )
        for r in rows
    ]


def choose() -> int | None:
    """The sweep shown (the newest by default)."""
    sweeps_ = sweep_list()
    if not sweeps_:
        return None
    ids = [i for i, _ in sweeps_]
    labels = dict(sweeps_)
    if st.session_state.get(state.SWEEP) not in ids:
        st.session_state[state.SWEEP] = ids[0]
    return st.selectbox("Sweep", ids, key=state.SWEEP, format_func=labels.get, help=TEXT["choose"])


def progress(sweep_id: int) -> None:
    """Progress, the members and Stop (whole sweep or one run); redraws while it runs."""
    from core.jobs import sweeps

    first = sweeps.status(runs.store(), sweep_id)
    live = first.state in ACTIVE

    @identity.fragment(run_every="2s" if live else None)
    def view() -> None:
        status = sweeps.status(runs.store(), sweep_id)
        if live and status.state not in ACTIVE:
            st.rerun()
        st.progress(
            min(1.0, status.done / max(1, status.budget)),
            text=f"{status.done} of {status.budget} runs finished — {status.state.lower()}",
        )
        members = status.members
        if members:
            st.dataframe(_members(members), hide_index=True, key=f"sweep_members_{sweep_id}")
        if status.state in ACTIVE:
            c = st.columns(2)
            if c[0].button(
                "Stop the sweep",
                icon=":material/stop:",
                key=f"stop_sweep_{sweep_id}",
                help=TEXT["stop_sweep"],
            ):
                sweeps.cancel(runs.store(), sweep_id)
                st.toast("Stopping the sweep…")
            running = [m for m in members if m.state in ACTIVE]
            if running:
                target = running[0]
                if c[1].button(
                    f"Stop run {target.id} only",
                    icon=":material/skip_next:",
                    key=f"stop_member_{target.id}",
                    help=TEXT["stop_one"],
                ):
                    runs.store().request_cancel(target.id)
                    st.toast(f"Stopping run {target.id}…")
            runs.keep_worker_alive()

    view()


def _members(members) -> pd.DataFrame:
    rows = []
    for job in members:
        cfg = (job.params or {}).get("config") or {}
        task = tasks.get(job.task or tasks.DEFAULT)
        value = (job.result or {}).get(task.main_metric)
        rows.append(
            {
                "run": job.id,
                "state": job.state.lower(),
                "arch": cfg.get("arch"),
                "lr": f"{cfg.get('lr', 0):.2e}",
                "bs": cfg.get("bs"),
                "wd": cfg.get("wd"),
                "epochs": cfg.get("epochs"),
                task.main_metric: task.metric_format.format(value) if value is not None else "—",
            }
        )
    return pd.DataFrame(rows)


def results(sweep_id: int) -> None:
    """A scatter per hyper-parameter, parallel coordinates, the best run and "use these settings"."""
    from core.jobs import sweeps

    store = runs.store()
    status = sweeps.status(store, sweep_id)
    trials = sweeps.trials_frame(store, sweep_id)
    job = status.members[0] if status.members else None
    task = tasks.get((job.task if job else None) or tasks.DEFAULT)
    if trials.empty:
        st.caption("No finished runs yet.")
        return
    metric = trials.attrs.get("metric") or task.main_metric
    params = [p for p in trials.attrs.get("params", []) if p in trials and trials[p].nunique(dropna=True) > 1]
    if metric not in trials:
        trials = trials.rename(columns={"metric": metric})
    best = status.best_run
    if best is not None:
        best_job = store.get(best)
        value = (best_job.result or {}).get(task.main_metric) if best_job else None
        shown = task.metric_format.format(value) if value is not None else "—"
        st.success(f"Best run: {best} ({task.main_metric} {shown}).", icon=":material/star:")
        c = st.columns(2)
        if best_job is not None and c[0].button(
            "Use these settings",
            type="primary",
            icon=":material/input:",
            key=f"use_best_{sweep_id}",
            help=TEXT["use"],
        ):
            config = (best_job.params or {}).get("config") or {}
            fill_from_config(config, f"The form holds run {best}'s settings, the best of sweep {sweep_id}.")
            st.switch_page("../pages/train.py")
        c[1].page_link(
            "../pages/runs.py",
            label=f"Open run {best}",
            icon=":material/table_rows:",
            query_params={"run": str(best)},
        )
    if not params:
        st.caption("Every finished run used the same settings so far.")
        return
    st.subheader("What each setting did", anchor=False)
    st.caption(TEXT["scatter"])
    cols = st.columns(min(3, len(params)))
    for i, p in enumerate(params):
        with cols[i % len(cols)]:
            st.plotly_chart(
                compare_figures.sweep_scatter(trials, p, metric, best_run=best), key=f"sweep_scatter_{p}"
            )
    st.subheader("All settings at once", anchor=False)
    st.caption(TEXT["parallel"])
    st.plotly_chart(
        compare_figures.parallel_figure(trials, params, metric, higher_is_better=task.higher_is_better),
        key="sweep_parallel",
    )
