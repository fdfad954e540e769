"""benchmark_table: every method against experiment, with the paper's MAE figures and cost table.

Rebuilt whole from the warehouse tables of the upstream assets in one transaction, so from one
consistent snapshot of them, and concurrent materializations can neither lose nor duplicate rows
(a conflicting commit is retried, `warehouse_backends.transaction`). Views `benchmark_mae` and
`benchmark_cost` (Table 1: devices, per-simulation wall time, CPU/GPU hours and memory) sit on it.

Each method's rows are its fits of the run's protocol (`simulation`; an imported method's are
`imported`), the protocol in the row; `benchmark_cost` is per method and protocol.

`benchmark_mae`: per method (and its protocol), the MAE of log10 sigma (mS/cm) with its count of
materials over three sets: all materials with a prediction (`_all`, the paper's first figure),
those whose every temperature passed the MSD check (`_reliable`, n_reliable = n_temperatures,
the paper's second), and those with a physical activation energy (`_physical`: NOT
`Ea_nonphysical`, the flag `science.arrhenius.ArrheniusFit.Ea_nonphysical` computes and
`arrhenius_fits` stores; a fit without the flag counts in none but `_all`).
"""

from collections.abc import Mapping

import dagster as dg

from ionic_assets.defs.analysis.assets import REFRESH_WITH_MISSING_DEPS, run_protocol
from ionic_assets.defs.materials.assets import obelix_subset
from ionic_assets.defs.reports import publish_figures, title_note
from ionic_assets.defs.resources import SimulationResource, WarehouseResource
from ionic_assets.lib.methods import load_methods
from ionic_assets.lib.warehouse import ensure_tables, read_rows
from ionic_assets.lib.warehouse_backends import transaction
from ionic_assets.science import figures

#: The rows of `benchmark_table` (columns: `records.BenchmarkRow`), from the upstream tables: each
#: method's fits of its run protocol (`run`: the parameters, the methods and their protocols).
BENCHMARK_QUERY = """
WITH run AS (
    SELECT unnest(?::VARCHAR[]) AS method, unnest(?::VARCHAR[]) AS protocol
), cost AS (
    SELECT method, material_id, protocol,
           sum(wall_time_s * CASE WHEN uses_gpu THEN 1 ELSE 0 END) / 3600 AS gpu_hours,
           sum(cpu_hours) AS cpu_hours
    FROM md_trajectories GROUP BY ALL
), estimates AS (
    SELECT method, material_id, m.protocol, max(d.n_replicas) AS n_replicas,
           count(*) FILTER (WHERE NOT d.ols_agrees) AS n_ols_flagged,
           bool_and(d.replicas_consistent) AS replicas_consistent
    FROM diffusion_estimates d JOIN md_trajectories m USING (method, material_id, temperature_K)
    GROUP BY ALL
), sizes AS (
    SELECT method, material_id, bool_and(agree) AS size_consistent,
           max(check_width_A) AS size_check_width_A, max(abs(ln(D_ratio))) AS size_max_abs_ln_ratio
    FROM size_checks GROUP BY ALL
)
SELECT f.method, f.material_id, f.protocol, s.formula, s.sigma_exp_mS_cm,
       f.sigma300_mS_cm AS sigma_pred_mS_cm,
       f.sigma300_ci95_lo_mS_cm AS sigma_pred_ci95_lo_mS_cm,
       f.sigma300_ci95_hi_mS_cm AS sigma_pred_ci95_hi_mS_cm,
       log10(f.sigma300_mS_cm) - log10(s.sigma_exp_mS_cm) AS log10_error,
       f.n_reliable, f.n_temperatures, f.Ea_eV, f.Ea_ci95_lo_eV, f.Ea_ci95_hi_eV,
       f.Ea_nonphysical, f.non_arrhenius,
       f.collective_sigma300_mS_cm AS sigma_collective_mS_cm,
       f.collective_sigma300_ci95_lo_mS_cm AS sigma_collective_ci95_lo_mS_cm,
       f.collective_sigma300_ci95_hi_mS_cm AS sigma_collective_ci95_hi_mS_cm,
       log10(f.collective_sigma300_mS_cm) - log10(s.sigma_exp_mS_cm) AS log10_error_collective,
       f.collective_Ea_eV AS Ea_collective_eV,
       f.haven_ratio_300, f.haven_ratio_300_ci95_lo, f.haven_ratio_300_ci95_hi,
       f.collective_reason,
       e.n_replicas, e.replicas_consistent, e.n_ols_flagged,
       z.size_consistent, z.size_check_width_A, z.size_max_abs_ln_ratio,
       c.gpu_hours, c.cpu_hours, f.reason
FROM arrhenius_fits f
JOIN run USING (method, protocol)
JOIN obelix_subset s USING (material_id)
LEFT JOIN cost c USING (method, material_id, protocol)
LEFT JOIN estimates e USING (method, material_id, protocol)
LEFT JOIN sizes z USING (method, material_id)
ORDER BY f.method, s.sigma_exp_mS_cm
"""


def query_params(protocols: Mapping[str, str]) -> list[list[str]]:
    """The parameters of `BENCHMARK_QUERY`: the methods and the protocol of each."""
    return [list(protocols), list(protocols.values())]


VIEWS_SQL = """
CREATE OR REPLACE VIEW benchmark_mae AS
SELECT method, protocol,
       avg(abs(log10_error)) AS mae_log10_sigma_all,
       count(log10_error) AS n_materials_all,
       avg(abs(log10_error)) FILTER (WHERE n_reliable = n_temperatures) AS mae_log10_sigma_reliable,
       count(log10_error) FILTER (WHERE n_reliable = n_temperatures) AS n_materials_reliable,
       avg(abs(log10_error)) FILTER (WHERE NOT Ea_nonphysical) AS mae_log10_sigma_physical,
       count(log10_error) FILTER (WHERE NOT Ea_nonphysical) AS n_materials_physical
FROM benchmark_table GROUP BY method, protocol ORDER BY method;

CREATE OR REPLACE VIEW benchmark_cost AS
SELECT method, protocol,
       count(*) AS n_simulations,
       max(CASE WHEN uses_gpu THEN 1 ELSE 0 END) AS n_gpus,
       median(n_cpus) AS n_cpus,
       median(wall_time_s) / 60 AS median_wall_min,
       min(wall_time_s) / 60 AS min_wall_min,
       max(wall_time_s) / 60 AS max_wall_min,
       sum(cpu_hours) AS total_cpu_hours,
       sum(wall_time_s * CASE WHEN uses_gpu THEN 1 ELSE 0 END) / 3600 AS total_gpu_hours,
       max(peak_gpu_memory_GiB) AS max_gpu_memory_GiB,
       max(peak_host_memory_GiB) AS max_host_memory_GiB,
       any_value(device) AS device
FROM md_trajectories GROUP BY method, protocol ORDER BY method, protocol;
"""


def rebuild_benchmark_table(conn, protocols: Mapping[str, str]) -> None:
    """benchmark_table and its views from the upstream tables, in one transaction, from the fits
    of each method's protocol (`protocols`: method name -> protocol)."""

    def rebuild(conn) -> None:
        ensure_tables(conn)
        conn.execute("DELETE FROM benchmark_table")
        conn.execute(
            f"INSERT INTO benchmark_table BY NAME {BENCHMARK_QUERY}", query_params(protocols)
        )
        conn.execute(VIEWS_SQL)

    transaction(conn, rebuild)


def _arrhenius_keys() -> list[dg.AssetKey]:
    return [dg.AssetKey([m.key, "arrhenius_fits"]) for m in load_methods().values()]


def _figures(bench, mae, note: str | None = None) -> dict:
    """Figures 1-3 by file name (published under `reports/` on the artifact store), from the
    `benchmark_table` rows and the `benchmark_mae` view, a colour per configured method, `note`
    heading their titles (`defs.reports.title_note`: a smoke run says so)."""
    colors = figures.method_colors(load_methods())
    named = {
        "parity": figures.parity_figure(bench, mae, colors, title_note=note),
        "log_error": figures.log_error_figure(bench, colors, mae=mae, title_note=note),
    }
    methods = sorted(bench["method"].unique())
    for i, x in enumerate(methods):
        for y in methods[i + 1 :]:
            named[f"parity_{x}_vs_{y}"] = figures.method_parity_figure(
                bench, x, y, colors, mae=mae, title_note=note
            )
    return named


@dg.asset(
    deps=[obelix_subset, *_arrhenius_keys()],
    group_name="benchmark",
    kinds={"duckdb", "plotly"},
    owners=["team:analysis"],
    automation_condition=REFRESH_WITH_MISSING_DEPS,
    description="Predicted vs experimental 300 K conductivity per method and material, "
    "with MAE of log10 sigma (views benchmark_mae, benchmark_cost) and Figures 1-3.",
)
def benchmark_table(
    context: dg.AssetExecutionContext, simulation: SimulationResource, warehouse: WarehouseResource
):
    protocols = {m.name: run_protocol(m, simulation) for m in load_methods().values()}

    def rebuild(conn) -> tuple:
        rebuild_benchmark_table(conn, protocols)
        tables = ("benchmark_table", "benchmark_mae", "benchmark_cost")
        return *(read_rows(conn, t) for t in tables), title_note(conn)

    bench, mae, cost, note = warehouse.run(rebuild)
    metadata = {
        "n_rows": len(bench),
        "mae": dg.MetadataValue.md(mae.to_markdown(index=False)),
        "cost": dg.MetadataValue.md(cost.to_markdown(index=False)),
        "table": dg.MetadataValue.md(
            bench.drop(columns=["reason", "collective_reason"]).to_markdown(index=False)
        ),
        **publish_figures(warehouse.artifacts(), "reports", _figures(bench, mae, note)),
    }
    return dg.MaterializeResult(metadata=metadata)
