"""A checkout's entry to the pages (page tests use it): the script itself is ``patrol_app/streamlit_app.py``, which
``patrol serve`` runs, installed or not."""

from patrol_app.streamlit_app import main

main()
