"""Campaigns: one scan or fix run per Go module of many repositories, resumable.

Data flows one way: repository sources -> :mod:`.repos` (shallow mirror
clones, the commit, the modules) -> :class:`.model.UnitSpec` -> a runner (local
process pool or Dask) -> :func:`.unit.run_unit` -> :class:`.model.UnitResult`
-> :mod:`.state` (SQLite, written by the client only) -> :mod:`.report`.
"""
