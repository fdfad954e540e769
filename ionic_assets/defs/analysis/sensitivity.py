"""<method>/sensitivity: how much a material's sigma(300 K) and Ea depend on the run length and on
the temperatures fitted, from the trajectories that already exist (no new MD).

On demand (no automation; it reruns kinisi on every trajectory four times), partitioned by
material: every trajectory of the material cut to 25, 50, 75 and 100 % of its simulated time
through the platform's diffusion analysis, then the Arrhenius fit; and the fit over every subset
of at least three of the stored temperatures (`science.sensitivity`). A partition whose
framework melted is left out as in `arrhenius_fits`; the trajectories are those of the run's
protocol P (the `simulation` resource's). When the material's fits of P and of its twin
(`protocols.unrelaxed_twin` / `relaxed_twin`) are both stored, they are variants of kind
`relaxation`, with delta log10 sigma and the MAE of each against experiment. Rows go to the
DuckDB table `sensitivity`, the spread per kind (decades, naming the variants at both ends) to
`sensitivity_spread`, the figure to `reports/<method>/<material>/sensitivity.html`.
"""

import dagster as dg
import pandas as pd

from ionic_assets.defs.analysis.assets import (
    OF_PROTOCOL,
    fit_points,
    partition_trajectories,
    protocol_points,
    run_protocol,
)
from ionic_assets.defs.materials.partitions import material_partitions
from ionic_assets.defs.reports import publish_figures, title_note
from ionic_assets.defs.resources import AnalysisSettings, SimulationResource, WarehouseResource
from ionic_assets.lib.metadata import ON_DEMAND_TAG
from ionic_assets.lib.methods import Method, load_methods
from ionic_assets.lib.provenance import package_versions
from ionic_assets.lib.records import SensitivityRow, SensitivitySpreadRow
from ionic_assets.lib.warehouse import ensure_tables, read_rows, upsert
from ionic_assets.science import diffusion, figures
from ionic_assets.science import sensitivity as sens
from ionic_assets.science.protocols import relaxed_twin, unrelaxed_twin

RELAXATION = "relaxation"

#: The stored fits of a method under two protocols.
FITS_QUERY = """
SELECT method, material_id, protocol, sigma300_mS_cm, sigma300_ci95_lo_mS_cm,
       sigma300_ci95_hi_mS_cm, Ea_eV, Ea_ci95_lo_eV, Ea_ci95_hi_eV
FROM arrhenius_fits WHERE method = ? AND protocol IN (?, ?)
"""


def twins(protocol: str) -> tuple[str, str]:
    """The run's protocol and its twin, unrelaxed first (`paper-relaxed`: paper, paper-relaxed)."""
    return unrelaxed_twin(protocol), relaxed_twin(protocol)


def _read(warehouse: WarehouseResource, method: str, material: str, protocol: str):
    """The run protocol's diffusion estimates and trajectories of the material, the OBELiX
    subset, the method's fits of the protocol and its twin, and the figures' title note."""
    of_protocol = [method, material, protocol]

    def read(conn):
        ensure_tables(conn)
        return (
            protocol_points(conn, method, material, protocol),
            read_rows(conn, "md_trajectories", f"{OF_PROTOCOL} ORDER BY temperature_K",
                      of_protocol),
            read_rows(conn, "obelix_subset"),
            conn.execute(FITS_QUERY, [method, *twins(protocol)]).df(),
            title_note(conn, OF_PROTOCOL, of_protocol),
        )  # fmt: skip

    return warehouse.run(read, read_only=True)


def _variants(warehouse, usable, left_out, md_rows, analysis) -> list[sens.Variant]:
    """The duration variants (cut trajectories) and the temperature-subset variants of the
    usable diffusion_estimates rows (`fit_points`)."""
    md_by_T = md_rows.set_index("temperature_K")
    partitions = []
    for T in usable["temperature_K"]:
        md = md_by_T.loc[T]
        trajectories, seeds = partition_trajectories(warehouse, md)
        partitions.append(sens.Partition(float(T), trajectories, seeds,
                                         float(md["equilibration_ps"]),
                                         float(md["diffusion_fit_start_ps"])))  # fmt: skip
    settings = diffusion.named_settings(analysis.diffusion_settings)
    by_duration = sens.duration_variants(partitions, settings, left_out)
    cell = {"n_li": int(usable["n_li"].iloc[0]), "volume_A3": float(usable["volume_A3"].iloc[0])}
    samples = [list(s) for s in usable["D_samples_cm2_s"]]
    subsets = sens.temperature_variants(list(usable["temperature_K"]), samples, **cell)
    return by_duration + subsets


def _row(method: Method, material: str, v: sens.Variant, provenance: dict) -> SensitivityRow:
    fit = v.fit.as_row() if v.fit else {}
    keep = ("temperatures_fit_K", "excluded_json", "sigma300_mS_cm", "sigma300_ci95_lo_mS_cm",
            "sigma300_ci95_hi_mS_cm", "Ea_eV", "Ea_ci95_lo_eV", "Ea_ci95_hi_eV")  # fmt: skip
    return SensitivityRow(
        method=method.name,
        material_id=material,
        variant_kind=v.kind,
        variant=v.label,
        estimable=v.fit is not None,
        reason=v.reason,
        duration_fraction=v.duration_fraction,
        duration_ps=v.duration_ps,
        provenance=provenance | {"source": _SOURCES[v.kind]},
        **{k: fit[k] for k in keep if k in fit},
    )


_SOURCES = {
    sens.DURATION: "trajectories cut short, reanalysed (science.sensitivity.duration_variant)",
    sens.TEMPERATURES: "stored diffusion_estimates D samples (temperature_variants)",
    RELAXATION: "stored arrhenius_fits of both protocols (relaxed_comparison)",
}


def _relaxation_rows(method: Method, material: str, fits, exp, provenance) -> tuple[list, dict]:
    """The stored fits of protocol P and its relaxed twin as `relaxation` rows, their delta and
    the MAE of each against experiment (over every material with both), when both exist."""
    measured = exp.set_index("material_id")["sigma_exp_mS_cm"].to_dict()
    pairs, mae = sens.relaxed_comparison(fits, measured)
    mine = pairs[pairs["material_id"] == material]
    if mine.empty:
        return [], {"mae": mae}
    pair = mine.iloc[0]
    rows, protocols = [], [pair["protocol"], pair["relaxed_protocol"]]
    source = {"protocols": protocols, "source": _SOURCES[RELAXATION]}
    for protocol in protocols:
        fit = fits[(fits.material_id == material) & (fits.protocol == protocol)].iloc[0]
        values = {k: _number(fit[k]) for k in SensitivityRow.columns() if k in fit.index
                  and k.startswith(("sigma300", "Ea_"))}  # fmt: skip
        rows.append(SensitivityRow(
            method=method.name, material_id=material, variant_kind=RELAXATION, variant=protocol,
            estimable=values["sigma300_mS_cm"] is not None,
            provenance=provenance | source, **values,
        ))  # fmt: skip
    return rows, {"mae": mae, "delta": float(pair["delta_log10_sigma"])}


def _mae_scalars(mae: pd.DataFrame) -> dict:
    """The MAE of log10 sigma of the unrelaxed and the relaxed fits and their count of materials
    (the run's protocol pair is the one row of `mae`), as numbers; none without a pair."""
    if mae.empty:
        return {}
    (row,) = mae.to_dict("records")
    keep = ("n_materials", "mae_log10_sigma", "relaxed_mae_log10_sigma")
    return {f"relaxation_{k}": row[k] for k in keep}


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _spreads(method: Method, material: str, rows: list[SensitivityRow], delta) -> list:
    """One spread row per kind of variant present."""
    spreads = []
    for kind in dict.fromkeys(r.variant_kind for r in rows):
        sigma = {r.variant: r.sigma300_mS_cm for r in rows if r.variant_kind == kind}
        s = sens.spread(sigma)
        spreads.append(SensitivitySpreadRow(
            method=method.name, material_id=material, variant_kind=kind, n_variants=len(sigma),
            spread_decades=s and s.spread_decades, low_variant=s and s.low,
            high_variant=s and s.high, delta_log10_sigma=delta if kind == RELAXATION else None,
            reason=None if s else "fewer than 2 variants with a sigma(300 K)",
        ))  # fmt: skip
    return spreads


def build_sensitivity(method: Method) -> dg.AssetsDefinition:
    @dg.asset(
        key=[method.key, "sensitivity"],
        partitions_def=material_partitions,
        deps=[dg.AssetKey([method.key, "arrhenius_fits"])],
        group_name=method.key,
        kinds={"duckdb", "kinisi", "plotly"},
        owners=["team:analysis"],
        tags={ON_DEMAND_TAG: "true"},  # `ionic-assets run` leaves it out
        description=f"Sensitivity of sigma(300 K) and Ea ({method.name}) to the simulated time "
        "(trajectories cut to 25-100 %) and to the temperatures fitted (every subset of >= 3), "
        "and relaxed vs unrelaxed when both were run; on demand.",
    )
    def sensitivity(
        context: dg.AssetExecutionContext,
        analysis: AnalysisSettings,
        simulation: SimulationResource,
        warehouse: WarehouseResource,
    ):
        material, protocol = context.partition_key, run_protocol(method, simulation)
        points, md_rows, exp, fits, note = _read(warehouse, method.name, material, protocol)
        usable, left_out = fit_points(points)
        if usable.empty:
            raise dg.Failure(
                f"{method.name} {material}: no estimable, unmelted diffusion estimate of "
                f"protocol {protocol} yet"
            )
        provenance = {
            "protocols": [protocol],
            "trajectory_paths": {
                f"{r.temperature_K:g}": r.trajectory_path for r in md_rows.itertuples()
            },  # fmt: skip
            "diffusion_settings": analysis.diffusion_settings,
            "package_versions": package_versions(),
        }
        rows = [
            _row(method, material, v, provenance)
            for v in _variants(warehouse, usable, left_out, md_rows, analysis)
        ]
        relaxed, comparison = _relaxation_rows(method, material, fits, exp, provenance)
        rows += relaxed
        spreads = _spreads(method, material, rows, comparison.get("delta"))
        upsert(warehouse, *rows, key=("method", "material_id"))
        upsert(warehouse, *spreads, key=("method", "material_id"))
        table = pd.DataFrame([r.as_row() for r in rows])
        spread_table = pd.DataFrame([s.as_row() for s in spreads])
        fig = figures.sensitivity_figure(
            table, material, method.name, note,
            {s.variant_kind: s.spread_decades for s in spreads if s.spread_decades is not None},
        )  # fmt: skip
        shown = ["variant_kind", "variant", "duration_ps", "sigma300_mS_cm",
                 "sigma300_ci95_lo_mS_cm", "sigma300_ci95_hi_mS_cm", "Ea_eV", "reason"]  # fmt: skip
        metadata = {
            "n_variants": len(rows),
            "spread": dg.MetadataValue.md(spread_table.to_markdown(index=False)),
            "variants": dg.MetadataValue.md(table[shown].to_markdown(index=False)),
            "relaxed_mae": dg.MetadataValue.md(comparison["mae"].to_markdown(index=False)),
            **_mae_scalars(comparison["mae"]),
        }
        metadata |= publish_figures(
            warehouse.artifacts(), f"reports/{method.key}/{material}", {"sensitivity": fig}
        )
        return dg.MaterializeResult(metadata=metadata)

    return sensitivity


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[build_sensitivity(m) for m in load_methods().values()])
