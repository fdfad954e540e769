"""Executor adapters, imported only when `defs/executor.py` chooses one.

They live outside `defs/` because Dagster imports every module there when it loads the
definitions, and dagster-k8s takes seconds to import: local runs never need it.
"""
