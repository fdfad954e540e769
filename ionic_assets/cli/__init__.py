"""The `ionic-assets` command line: `commands` (arguments, output, the error boundary) and
`runner` (the asset graph, materialized in graph order)."""

from ionic_assets.cli.commands import main

__all__ = ["main"]
