"""How md_trajectories runs, as plain settings: the protocol, device, base seed and MD engine.

The assets' `simulation` resource is this (`defs.resources.SimulationResource`); the k8s
executor builds it from a run's resolved config to size a DFT pod for the protocol its step
will load (`defs/k8s_executor.py`), so both read the protocol the same way.
"""

from pydantic import BaseModel

from ionic_assets.lib import settings
from ionic_assets.science import protocols


class SimulationSettings(BaseModel):
    """`protocol` None means IONIC_ASSETS_PROTOCOL, read when a run loads it, so a deployment
    can switch every run to `smoke` without editing run config; the CLI resolves it when its run
    starts and sets it in the run config. It is looked up in `protocols_file`, else
    IONIC_ASSETS_PROTOCOLS_FILE. `engine` None means IONIC_ASSETS_MD_ENGINE (auto, torch-sim or
    ase; science/md/choice.py)."""

    protocol: str | None = None
    protocols_file: str | None = None
    device: str = "auto"
    seed: int = 20260101
    engine: str | None = None

    def md_engine(self) -> str:
        return self.engine or settings.MD_ENGINE.value()

    def load_protocol(self) -> protocols.Protocol:
        return settings.load_md_protocol(self.protocol, self.protocols_file)
