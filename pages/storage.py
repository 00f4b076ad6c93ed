"""Storage: what the workspace holds, how much disk each part uses, and freeing what can go."""

import pandas as pd
import streamlit as st

from core import storage, workspace
from core.data import manage
from core.errors import UserError
from core.fsutil import human_size

NOTICE = "storage_notice"
CONFIRM = {  # what each free button does, and what it costs, said before it is pressed
    "cache": ("Clear the caches", "They are rebuilt the next time each dataset is trained."),
    "checkpoints": (
        "Delete the checkpoints of ended runs",
        "Their kept weights, results, exports and predictions stay; they can no longer be continued.",
    ),
    "trash": ("Empty the trash", "Deleted files, runs, models and datasets go for good: no undo or restore."),
    "downloads": ("Delete the downloaded archives", "Rebuilding such a dataset downloads it again."),
    "parts": ("Delete the unfinished downloads", "A download that is running keeps its piece."),
}

st.title("Storage")
st.caption(f"Everything the playground writes is in one folder: `{workspace.root()}`.")
notice = st.session_state.pop(NOTICE, None)
if notice:
    st.success(notice, icon=":material/check_circle:")

PENDING = "storage_pending"  # the part whose freeing waits for its confirmation


def counted(n: int, unit: str) -> str:
    """'1 dataset', '3 datasets': a count with its unit, singular for one."""
    return f"{n} {unit.removesuffix('s') if n == 1 and unit.endswith('s') else unit}"


parts = storage.usage()
total = sum(p.bytes for p in parts)
st.metric("Workspace", human_size(total))
st.dataframe(
    pd.DataFrame(
        {
            "part": [p.title for p in parts],
            "size": [human_size(p.bytes) for p in parts],
            "share": [100 * p.bytes / max(1, total) for p in parts],
            "holds": [counted(p.count, p.unit) if p.unit else "" for p in parts],
            "what it is": [p.note for p in parts],
        }
    ),
    hide_index=True,
    width="stretch",
    column_config={
        "share": st.column_config.ProgressColumn(
            "share of the workspace", min_value=0, max_value=100, format="%.0f%%"
        ),
        "what it is": st.column_config.TextColumn(width="large"),
    },
)

st.subheader("Free space", anchor=False)
pending = st.session_state.get(PENDING)
for part in (p for p in parts if p.can_free):
    label, cost = CONFIRM[part.key]
    if st.button(
        f"{label} ({human_size(part.bytes)})",
        key=f"storage_ask_{part.key}",
        disabled=part.bytes == 0 or pending == part.key,
        icon=":material/delete_sweep:",
        help=part.note,
    ):
        st.session_state[PENDING] = pending = part.key
    if pending != part.key:
        continue
    with st.container(border=True):
        st.write(f"{part.title}: {human_size(part.bytes)}. {cost}")
        yes, no = st.columns(2)
        if no.button("Cancel", key=f"storage_cancel_{part.key}"):
            st.session_state.pop(PENDING, None)
            st.rerun()
        if yes.button(
            f"Yes, {label[0].lower()}{label[1:]}",
            key=f"storage_free_{part.key}",
            type="primary",
            help=f"{cost} Nothing else in the workspace is touched.",
        ):
            st.session_state.pop(PENDING, None)
            try:
                freed = storage.free(part.key)
            except UserError as e:
                st.error(str(e))
            else:
                st.session_state[NOTICE] = f"{label}: {human_size(freed)} freed."
                st.rerun()

deleted = manage.trashed_datasets()
if deleted:
    st.subheader("Deleted datasets", anchor=False)
    st.caption("Each can come back under its name until the trash is emptied.")
for folder, name, when in deleted:
    left, right = st.columns([3, 1])
    left.write(f"**{name}**, deleted {manage.when_text(when)} ({human_size(storage.folder_bytes(folder))})")
    if right.button(
        "Restore",
        key=f"storage_restore_{folder.name}",
        icon=":material/restore_from_trash:",
        help="Put the dataset back on the Data page under its name, with its cleaning history.",
    ):
        try:
            manage.restore_dataset(folder)
        except UserError as e:
            st.error(str(e))
        else:
            st.session_state[NOTICE] = f"{name} is back on the Data page."
            st.rerun()
