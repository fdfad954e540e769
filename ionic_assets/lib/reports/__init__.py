"""Report code: figures written to files (`export`: HTML, and PNG through kaleido and a headless
Chromium); `defs/reports.py` publishes them on the artifact store with their Dagster metadata."""
