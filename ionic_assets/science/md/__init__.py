"""NVT molecular dynamics: two engines sharing one recorder, one result type and one set of files.

engine               `Engine`: the ASE runner or torch-sim, by the name recorded with each run
result               `MDResult` (a finished run) and `Outcome` (a result or the error)
recorder             `Recorder`: frames, guards, statistics, adaptive stop, cost, run key
checkpoint           checkpoint files: write, verify, load, fall back to the one before
adaptive             the adaptive stopping rule (`AdaptiveRule`, `evaluate`)
ase_runner           `run_nvt`: one trajectory with the protocol's ASE dynamics class
systems              `System`: one trajectory of a batch
torchsim_thermostat  the protocol's Nose-Hoover chain as torch-sim's integrator, exact settings
batch_state          the batch's torch-sim state, built, thinned and saved system by system
autobatch            memory-based split of a batch
torchsim_runner      `run_batch`: lock-step integration, one recorder per system
choice               which engine runs a set of systems, measured and recorded
dispatch             `run_systems`: choose, log, run

Every trajectory can be killed at any moment and resumed bit for bit (see `ase_runner` and
`torchsim_runner`).
"""
