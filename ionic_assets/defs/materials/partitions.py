"""Partitions: materials (OBELiX IDs) x temperatures (kelvin).

Both dimensions are dynamic, so new keys need no code change: the UI's "add partition", or
`ionic-assets partitions add`. They are seeded with the paper's materials and temperatures.
"""

import dagster as dg

from ionic_assets.science.errors import InputError
from ionic_assets.science.obelix import PAPER_MATERIAL_IDS

PAPER_TEMPERATURES_K = ("800", "900", "1000", "1100", "1200")

material_partitions = dg.DynamicPartitionsDefinition(name="material")
temperature_partitions = dg.DynamicPartitionsDefinition(name="temperature_K")
simulation_partitions = dg.MultiPartitionsDefinition(
    {"material": material_partitions, "temperature_K": temperature_partitions}
)


def temperature_K(key: str) -> float:
    """The temperature of a partition key, kelvin; anything but a positive number is refused."""
    try:
        value = float(key)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise InputError(f"temperature partition {key!r}: not a positive number of kelvin")
    return value


def temperature_key(value: str | float) -> str:
    """Canonical key of a temperature: '1000' for 1000, 1000.0 or '1000.0'."""
    kelvin = temperature_K(str(value))
    return str(int(kelvin)) if kelvin.is_integer() else str(kelvin)


def simulation_key(context: dg.AssetExecutionContext) -> tuple[str, float]:
    """(material, temperature in kelvin) of the partition being materialized."""
    return _material_and_temperature(context.partition_key)


def simulation_keys(context: dg.AssetExecutionContext) -> list[tuple[str, float]]:
    """(material, kelvin) of each partition of the run (several for a batched MD run)."""
    return [
        _material_and_temperature(simulation_partitions.get_partition_key_from_str(partition))
        for partition in context.partition_keys
    ]


def _material_and_temperature(key: dg.MultiPartitionKey) -> tuple[str, float]:
    keys = key.keys_by_dimension
    return keys["material"], temperature_K(keys["temperature_K"])


def add_partition_keys(
    instance: dg.DagsterInstance, materials=(), temperatures=()
) -> dict[str, list[str]]:
    """Register new material and temperature keys; returns those that were new."""
    temps = [temperature_key(t) for t in temperatures]
    added = {}
    for definition, keys in ((material_partitions, materials), (temperature_partitions, temps)):
        existing = set(instance.get_dynamic_partitions(definition.name))
        new = [k for k in dict.fromkeys(keys) if k not in existing]
        if new:
            instance.add_dynamic_partitions(definition.name, new)
        added[definition.name] = new
    return added


def seed_default_partitions(instance: dg.DagsterInstance) -> dict[str, list[str]]:
    return add_partition_keys(instance, PAPER_MATERIAL_IDS, PAPER_TEMPERATURES_K)
