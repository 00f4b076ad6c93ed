"""Questions: every question of the course diary, a one-line answer, and links to what answers it."""

import streamlit as st

from dashboard import learn, state
from dashboard.questions import questions
from dashboard.text import sections

TEXT = sections("questions")

state.init()
st.title("Questions")
st.write(TEXT["intro"])

words = st.text_input("Find a question", key="questions_filter", help=TEXT["filter"])
every = questions()
shown = [q for q in every if q.matches(words)]
st.caption(TEXT["count"].format(shown=len(shown), total=len(every)))
if not shown:
    st.info(TEXT["none"])

for q in shown:
    with st.container(border=True, key=f"question_{q.key}"):
        st.markdown(f"**{q.question}**  \n{q.answer}")
        for link in q.links:
            if link.kind == "lab":
                lab = learn.LABS[link.target]
                label = f"{lab.title} › {lab.sections[link.section]}"
                if lab.exists:
                    learn.link(link.target, link.section, label=label)
                else:
                    st.caption(TEXT["lab_missing"].format(title=label))
            elif link.kind == "page":
                st.page_link(link.path, label=link.label, icon=":material/arrow_forward:")
            else:
                st.caption(link.label)
