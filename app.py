"""AI prototyping dashboard: page config, navigation over pages/, and the shared sidebar.

Run with `streamlit run app.py`. Nothing heavy is imported here, so Home opens at once.
"""

import streamlit as st

import ui


def main() -> None:
    st.set_page_config(
        page_title="AI Prototyping Dashboard",
        page_icon=":material/science:",
        layout="wide",
        initial_sidebar_state="expanded",
    )
    home = st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)
    tools = [st.Page(t.path, title=t.title, icon=t.icon) for t in ui.TOOLS]
    page = st.navigation({"": [home], "Tools": tools})
    ui.sidebar_ui()
    page.run()


if __name__ == "__main__":
    main()
