"""Model: the architecture layer by layer — shapes, parameters, and what a freeze setting trains."""

import streamlit as st

from core import tasks, workspace
from core.errors import UserError
from core.train.archs import ARCHS
from dashboard import model_view, state
from dashboard.text import sections
from dashboard.train_form import current_config, follow_task

FROZEN = state.MODEL_FROZEN
TEXT = sections("model")

state.init()
st.title("Model")
st.write(TEXT["intro"])


@st.cache_data(show_spinner=False, ttl="1m")
def input_of(space: str, dataset: str) -> model_view.DatasetInput:
    """Classes, channels and image size of a dataset, as training will see them (cached)."""
    return model_view.dataset_input(dataset)


@st.cache_resource(show_spinner=False, max_entries=8)
def view_of(task: str, arch: str, n_classes: int, channels: int, size: int) -> model_view.ModelView:
    """The model the task trains and its tables, kept per server so switching back is instant."""
    built = tasks.get(task).build(arch, n_classes, channels, size, pretrained=True)  # as Train builds it
    return model_view.describe(built, size, channels)


dataset = st.session_state[state.DATASET]
try:
    task = tasks.for_dataset(dataset)
except UserError as e:
    st.error(str(e))
    st.stop()

follow_task(task, dataset)  # as the Train page: a dataset of another task starts from its defaults
arch = st.selectbox(
    "Architecture",
    list(task.archs),
    key=state.ARCH,
    persist_state="session",
    format_func=lambda a: ARCHS[a].title,
    help=TEXT["arch"],
)
st.caption(ARCHS[arch].description)

if task.inputs != "images":  # a table or ratings network: shaped by its data's processing, no image size
    model_view.network_section(task, dataset, current_config())
    st.stop()

try:
    with st.spinner("Reading the dataset's folder (the first time, Digits is written out)…"):
        given = input_of(workspace.current_name(), dataset)
except UserError as e:
    st.error(str(e))
    st.stop()
st.caption(
    f"Built for **{dataset}** ({task.title.lower()}): {given.n_classes} classes, {given.channels} "
    f"channel(s), {given.size}×{given.size} px images. Change the dataset on the Train page."
)
st.info(TEXT["output_" + task.name].format(n=given.n_classes, size=given.size), icon=":material/output:")

try:
    with st.spinner(
        "Building the model… the first one loads PyTorch, and simple_cnn or a ResNet also "
        "fastai, whose import takes about 8 seconds; after that, switching is instant."
    ):
        view = view_of(task.name, arch, given.n_classes, given.channels, given.size)
except UserError as e:
    st.error(str(e))
    st.stop()
if view.built.notice:
    st.info(view.built.notice)

n = view.n_groups
if st.session_state.get(FROZEN) not in range(n):
    st.session_state.pop(FROZEN, None)  # the last architecture had more groups
frozen = st.radio(
    "Frozen layer groups",
    list(range(n)),
    key=FROZEN,
    format_func=lambda k: model_view.freeze_label(k, n),
    help=TEXT["frozen"],
)
total, trainable = view.counts[frozen]
table = view.tables[frozen]
left, middle, right = st.columns(3)
left.metric("Parameters", f"{total:,}", help="Every number the model learns, in all layers.")
middle.metric("Trainable", f"{trainable:,}", help="The parameters this freeze setting updates.")
right.metric("Layer groups", n, help=TEXT["groups"])
if frozen and "BatchNorm" in " ".join(table["kind"]):
    st.caption(TEXT["batch_norm"])

st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        "output shape": st.column_config.TextColumn(help="Channels × height × width for one image."),
        "parameters": st.column_config.NumberColumn(format="localized"),
        "trainable": st.column_config.CheckboxColumn(help="Updated by training at this setting."),
        "group": st.column_config.TextColumn(help="The layer group it belongs to; groups freeze together."),
    },
)

st.subheader("What each kind of layer does")
st.markdown(
    "\n".join(f"- **{kind}** {line}" for kind, line in model_view.layer_explanations(list(table["kind"])))
)
