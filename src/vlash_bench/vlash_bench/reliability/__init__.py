"""Fuzz and fault-injection support (issue 12): hostile inputs, command checks, RELIABILITY.md.

ROS-free: :mod:`.hostile` generates the hostile messages by kind (seeded), :mod:`.checks` checks
the executor's command stream against its limits and measures recovery in ticks, :mod:`.report`
writes RELIABILITY.md from the runner's JSON. The runner itself (real processes over real DDS)
is ``test/reliability_run.py``.
"""
