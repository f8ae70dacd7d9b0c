"""The HTTP side of ``patrol serve``: cookie sessions and routes beside the Streamlit pages. No Streamlit here."""
