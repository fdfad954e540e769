"""The reference tables in docs/ are the ones the configuration files declare."""

from pathlib import Path

from ionic_assets.lib.methods import Method, load_methods
from ionic_assets.lib.settings import METHODS_FILE
from ionic_assets.science.protocols import Protocol, load_protocols

DOCS = Path(__file__).resolve().parents[1] / "docs"


def table_rows(page: str, heading: str) -> list[str]:
    """The body rows of the first Markdown table below `heading` on a docs page."""
    section = (DOCS / page).read_text().split(f"\n{heading}\n", 1)[1]
    lines = section.split("\n|", 1)[1].split("\n\n", 1)[0]
    return ["|" + line if i == 0 else line for i, line in enumerate(lines.splitlines())][2:]


def method_row(method: Method) -> str:
    if method.kind == "mlip":
        made_by = f"{method.engine} `{method.settings['model']['name']}`"
    else:
        made_by = method.engine
    return f"| `{method.name}` | {method.kind} | {made_by} | {method.description} |"


def protocol_row(p: Protocol) -> str:
    cells = [
        f"`{p.name}`",
        f"{p.timestep_fs:g}",
        f"{p.duration_ps:g}",
        f"{p.equilibration_ps:g}",
        str(p.frame_interval_steps),
        str(p.checkpoint_interval_steps),
        f"{p.min_cell_width_A:g}",
        str(p.replicas),
        "yes" if p.adaptive else "no",
        p.relax.mode,
    ]
    return "| " + " | ".join(cells) + " |"


def test_methods_table_lists_the_checked_in_methods():
    expected = [method_row(m) for m in load_methods(METHODS_FILE.default).values()]
    assert table_rows("methods.md", "## The methods") == expected


def test_protocols_table_lists_the_checked_in_protocols():
    expected = [protocol_row(p) for p in load_protocols().values()]
    assert table_rows("protocols.md", "## The protocols") == expected
