"""Report code: figures written to files (`export`: HTML, and PNG through kaleido and a headless
Chromium) and published on the artifact store with their Dagster metadata (`publish`)."""

from ionic_assets.lib.reports.publish import png_markdown, publish_figures

__all__ = ["png_markdown", "publish_figures"]
