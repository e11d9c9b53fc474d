"""The SimPy world: clients, balancer, gateways, backplane, faults; wired from a config.

Entry point: :func:`simulate` ``(config, replication=0, progress=None) -> RunResult``.
"""

from wssim.sim.simulate import simulate

__all__ = ["simulate"]
