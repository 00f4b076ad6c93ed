"""Models: the saved model library — download, import, rename, delete."""

import streamlit as st

from core.errors import UserError
from core.serving import library, upload
from dashboard import bundle_view, state
from dashboard.text import sections
from dashboard.views import model_publish

IMPORT_ROUND = "library_import_round"  # bumped after an import, to empty the uploader
CHOSEN = "library_model"  # the model picked below
PENDING = "library_pending"  # a model to pick on the next run (after a rename or an import)

TEXT = sections("models")

state.init()
st.title("Models")
st.write(TEXT["intro"])

notice = st.session_state.pop(state.MODELS_NOTICE, None)
if notice:
    getattr(st, notice[0])(notice[1])

models = library.list_models()
with st.expander("Import a model bundle", expanded=not models, icon=":material/upload:"):
    st.caption(TEXT["import"])
    n = st.session_state.setdefault(IMPORT_ROUND, 0)
    offered = st.file_uploader(
        "Bundle (.zip)",
        type=["zip", "pkl", "pth", "pt", "safetensors"],
        key=f"import_{n}",
        help=TEXT["import_file"],
    )
    wanted = st.text_input(
        "Name in the library (optional)",
        key=f"import_name_{n}",
        max_chars=64,
        help=TEXT["import_name"],
    )
    if st.button(
        "Import",
        disabled=offered is None,
        icon=":material/input:",
        help=TEXT["import_button"],
    ):
        try:
            with st.spinner("Checking the bundle and loading its weights strictly…"):
                info = upload.import_bundle(offered.getvalue(), offered.name, wanted or None)
        except UserError as e:
            st.error(f"Not imported, nothing was saved: {e}")
        else:
            st.session_state[IMPORT_ROUND] = n + 1
            st.session_state[PENDING] = info.name
            st.session_state[state.MODELS_NOTICE] = ("success", f"Imported as {info.name}.")
            st.rerun()

if not models:
    st.info(TEXT["empty"])
    st.page_link("../pages/train.py", label="Train a model", icon=":material/model_training:")
    st.stop()

st.dataframe(
    bundle_view.library_table(models),
    hide_index=True,
    width="stretch",
)

by_name = {m.name: m for m in models}
pending = st.session_state.pop(PENDING, None)
if pending in by_name:
    st.session_state[CHOSEN] = pending
if st.session_state.get(CHOSEN) not in by_name:
    st.session_state[CHOSEN] = models[0].name
name = st.selectbox(
    "Model",
    list(by_name),
    key=CHOSEN,
    format_func=lambda n: f"{n} · published, read-only" if by_name[n].published else n,
    help="The saved model to look at, download, rename or delete.",
)
info = by_name[name]
bundle_view.model_details(info)
model_publish.publish_panel(info, PENDING)
bundle_view.download_buttons(info.name, key="library", task=info.task)
if st.button(
    "Predict with this model",
    type="primary",
    icon=":material/image_search:",
    help="Open the Predict page with this model chosen.",
):
    st.session_state[state.PREDICT_MODEL] = info.name
    st.switch_page("../pages/predict.py")

if info.published:  # read-only: its copy can be renamed or deleted instead
    st.stop()
with st.expander("Rename or delete", icon=":material/edit:"):
    new_name = st.text_input(
        "New name",
        value=info.name,
        key=f"rename_{info.name}",
        max_chars=64,
        help="Letters, digits, - and _; it must be free.",
    )
    if st.button(
        "Rename",
        icon=":material/drive_file_rename_outline:",
        help="Give the model the new name; nothing else changes.",
    ):
        try:
            renamed = library.rename(info.name, new_name)
        except UserError as e:
            st.error(str(e))
        else:
            st.session_state[PENDING] = renamed.name
            st.session_state[state.MODELS_NOTICE] = ("success", f"Renamed to {renamed.name}.")
            st.rerun()
    sure = st.checkbox(
        f"Yes, move {info.name} to the trash",
        key=f"confirm_delete_{info.name}",
        help=TEXT["delete_confirm"],
    )
    if st.button(
        "Delete", disabled=not sure, icon=":material/delete:", help="Move this model to the workspace trash."
    ):
        where = library.delete(info.name)
        st.session_state[state.MODELS_NOTICE] = (
            "info",
            f"Moved {info.name} to the trash ({where.relative_to(where.parents[2])}).",
        )
        st.rerun()
