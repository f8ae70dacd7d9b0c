"""Reports: the yearly (or date-range) rollup from SQL aggregates (:mod:`.rollup`), the narrative in the bureau's
style (:mod:`.narrative`), the report and its tables (:mod:`.report`), the incident map figure (:mod:`.figure`),
the writers for JSON, Markdown, Excel and Word (:mod:`.writers`) and the ``patrol report``/``patrol export``
verbs (:mod:`.cli`). Nothing here imports Streamlit; importing this package imports nothing heavy."""
