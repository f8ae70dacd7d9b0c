"""Streamlit-only wiring. Nothing outside ``patrol_app/ui`` and ``streamlit_app.py`` imports streamlit."""
