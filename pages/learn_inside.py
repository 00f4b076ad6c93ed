"""Lab: inside your model — activations layer by layer, BatchNorm, dropout's mask, memory per batch size."""

import pandas as pd
import streamlit as st

from core import workspace
from core.errors import UserError
from core.jobs.store import DONE
from core.labs import inside, memory
from dashboard import learn, learn_run, model_view, runs, state, widgets
from dashboard import learn_figures_inside as figures
from dashboard.text import sections

SLUG = "inside"
TEXT = sections("learn_inside")
IMAGE, SHIFT, SCALE = "inside_image", "inside_shift", "inside_scale"
P, TRAINING, SEED = "inside_p", "inside_training", "inside_seed"
BATCH_SIZES, JOB = "inside_batch_sizes", "inside_memory_job"
N_IMAGES = 32
MB = 2**20

state.init()
st.title(learn.LABS[SLUG].title)
st.write(TEXT["intro"])


@st.cache_data(show_spinner=False, max_entries=64)
def stats(space: str, run_id: int, index: int) -> list[dict]:
    """Activation statistics of the run's model for one of its validation images."""
    _, _, x = learn_run.images(run_id, N_IMAGES)
    return inside.activation_stats(learn_run.loaded(run_id).model, x[index : index + 1])


@st.cache_data(show_spinner=False, ttl="1m")
def input_of(space: str, dataset: str) -> model_view.DatasetInput:
    """Classes, channels and image size of a dataset, as training sees them."""
    return model_view.dataset_input(dataset)


@st.cache_data(show_spinner=False, max_entries=16)
def estimate_of(arch: str, n_classes: int, channels: int, size: int) -> memory.Estimate:
    """The memory estimate of an architecture for one image size."""
    return memory.estimate(memory.build(arch, n_classes, channels, size), channels, size)


with learn.section(SLUG, "activations"):
    st.markdown(TEXT["activations"])
    run = learn_run.current()
    if run is None:
        learn_run.no_run(TEXT["no_run"])
    else:
        x, labels, _ = learn_run.images(run.run_id, N_IMAGES)
        left, right = st.columns([1, 4])
        index = left.slider("Image", 0, len(x) - 1, 0, key=IMAGE, help=TEXT["image"])
        left.image(x[index].transpose(1, 2, 0), caption=f"label: {labels[index]}", width=96, clamp=True)
        right.caption(f"Run {run.run_id}: {run.config.arch} on {run.config.dataset}")
        rows = stats(workspace.current_name(), run.run_id, index)
        right.plotly_chart(figures.activation_stats(rows), key="inside_stats_chart")
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.markdown(TEXT["batchnorm"])
    left, right = st.columns(2)
    shift = left.slider("Incoming mean", -5.0, 5.0, 3.0, 0.5, key=SHIFT, help=TEXT["shift"])
    scale = right.slider("Incoming spread", 0.1, 10.0, 4.0, 0.1, key=SCALE, help=TEXT["scale"])
    before, after = inside.batchnorm_effect(shift, scale)
    cols = st.columns(4)
    cols[0].metric("mean before", f"{before.mean():.2f}")
    cols[1].metric("spread before", f"{before.std():.2f}")
    cols[2].metric("mean after", f"{after.mean():.2f}")
    cols[3].metric("spread after", f"{after.std():.2f}")
    st.plotly_chart(figures.batchnorm(before, after), key="inside_bn_chart")

with learn.section(SLUG, "dropout"):
    st.markdown(TEXT["dropout"])
    left, middle, right = st.columns(3)
    p = left.slider("Dropout probability p", 0.0, 0.9, 0.5, 0.05, key=P, help=TEXT["p"])
    training = middle.toggle("Training mode", True, key=TRAINING, help=TEXT["training"])
    seed = right.number_input("Seed", 0, 999, 0, key=SEED, help=TEXT["seed"])
    demo = inside.dropout_demo(p, training, seed=int(seed))
    st.metric("Activations zeroed", f"{demo['zeroed_share']:.0%}")
    st.plotly_chart(figures.dropout(demo["input"], demo["output"]), key="inside_dropout_chart")
    st.caption(
        f"sum in: {demo['input'].sum():.1f} · sum out: {demo['output'].sum():.1f} · "
        f"kept values multiplied by 1 / (1 − p) = {1 / (1 - p):.2f}"
        if training
        else f"sum in: {demo['input'].sum():.1f} · sum out: {demo['output'].sum():.1f} · eval mode: unchanged"
    )

with learn.section(SLUG, "memory"):
    st.markdown(TEXT["memory"])
    arch, dataset = st.session_state[state.ARCH], st.session_state[state.DATASET]
    try:
        given = input_of(workspace.current_name(), dataset)
        with st.spinner("Building the model…"):
            est = estimate_of(arch, given.n_classes, given.channels, given.size)
    except UserError as e:
        st.error(str(e))
        est = None
    if est is not None:
        st.caption(f"{TEXT['arch_note']} **{arch}**, {given.channels}×{given.size}×{given.size} px images.")
        sizes = st.multiselect(
            "Batch sizes",
            [8, 16, 32, 64, 128, 256, 512],
            [32, 128],
            key=BATCH_SIZES,
            help=TEXT["batch_sizes"],
        )
        sizes = sorted(sizes) or [64]
        parts = {
            b: {
                "parameters": est.parameters,
                "gradients": est.gradients,
                "optimizer": est.optimizer,
                "activations": b * est.activations_per_image,
            }
            for b in sizes
        }
        st.dataframe(
            pd.DataFrame(
                [
                    {"batch size": b, **{k: v / MB for k, v in parts[b].items()}, "total": est.total(b) / MB}
                    for b in sizes
                ]
            ),
            hide_index=True,
            width="stretch",
            column_config={
                k: st.column_config.NumberColumn(f"{k} (MiB)", format="%.2f")
                for k in list(parts[sizes[0]]) + ["total"]
            },
        )
        st.markdown(TEXT["measure"])
        params = {"arch": arch, "n_classes": given.n_classes, "channels": given.channels, "size": given.size}
        if st.button(
            "Measure",
            icon=":material/speed:",
            key="inside_measure",
            help=TEXT["measure_button"],
        ):
            if (job_id := runs.submit("memory", {**params, "batch_sizes": sizes})) is not None:
                st.session_state[JOB] = job_id
        job = runs.store().get(st.session_state[JOB]) if st.session_state.get(JOB) else None
        measured = None
        if job is not None and job.state == DONE and all(job.params.get(k) == v for k, v in params.items()):
            measured = job.result["rows"]

        def result(snap) -> None:
            """The measured rows beside the estimate, once the job is done."""
            if snap.job.state != DONE:
                if snap.job.error:
                    st.error(snap.job.error)
                return
            table = pd.DataFrame(
                [
                    {
                        "batch size": r["bs"],
                        "estimate (MiB)": r["estimate"] / MB,
                        "measured (MiB)": r["measured_total"] / MB,
                        "activations measured (MiB)": r["measured_activations"] / MB,
                        "difference": r["estimate"] / r["measured_total"] - 1,
                        "step (s)": r["measured_seconds"],
                    }
                    for r in snap.job.result["rows"]
                ]
            )
            st.caption(
                f"Measured on the {snap.job.result.get('device', 'CPU')} for {snap.job.result.get('arch')}."
            )
            st.dataframe(
                table,
                hide_index=True,
                width="stretch",
                column_config={
                    "difference": st.column_config.NumberColumn(format="percent"),
                    "estimate (MiB)": st.column_config.NumberColumn(format="%.2f"),
                    "measured (MiB)": st.column_config.NumberColumn(format="%.2f"),
                    "activations measured (MiB)": st.column_config.NumberColumn(format="%.2f"),
                    "step (s)": st.column_config.NumberColumn(format="%.3f"),
                },
            )

        widgets.job_monitor(
            job.id if job else None, result, stop_help="Stop measuring after this batch size."
        )
        st.plotly_chart(figures.memory(parts, measured), key="inside_memory_chart")
