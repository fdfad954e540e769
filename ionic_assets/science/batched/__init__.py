"""Batched MD: many trajectories integrated together on one device with torch-sim.

systems     one trajectory to run (a replica is one more)
thermostat  the protocol's Nose-Hoover chain as torch-sim's integrator, exact settings
models      SevenNet / MACE through their packages' torch-sim wrappers
state       the batch's torch-sim state, built, thinned and saved system by system
autobatch   memory-based split of a batch
runner      `run_batch`: lock-step integration, per-system recorder (science.md.Recorder)
choice      which engine runs a set of systems, measured and recorded
dispatch    `run_systems`: choose, log, run
"""
