"""Sans-I/O policies shared by the simulator and the live reference implementation.

Pure Python, no event loop: the simulator drives them with SimPy time and the reference gateway with
asyncio time, so both worlds run the same decisions.
"""

from wssim.policies.admission import TokenBucket
from wssim.policies.backoff import STRATEGIES, Backoff, BackoffExhausted
from wssim.policies.balancing import (
    BALANCERS,
    Balancer,
    HashRing,
    LeastConnections,
    Modulo,
    Rendezvous,
    RoundRobin,
    Sticky,
    make_balancer,
    stable_hash,
    stable_hash_array,
)
from wssim.policies.budget import ConnectionBudget
from wssim.policies.keepalive import Keepalive, tightest
from wssim.policies.queues import OVERFLOW_POLICIES, Message, Offer, SendQueue
from wssim.policies.reader import READ_TIMES, Reader
from wssim.policies.reconnect import OUTCOMES, Reconnection, Reconnector
from wssim.policies.replay import RESYNC_REASONS, Replay, ReplayBuffer, resume_decision
from wssim.policies.rooms import POPULARITIES, assign_rooms

__all__ = [
    "BALANCERS",
    "OUTCOMES",
    "OVERFLOW_POLICIES",
    "POPULARITIES",
    "READ_TIMES",
    "RESYNC_REASONS",
    "STRATEGIES",
    "Backoff",
    "BackoffExhausted",
    "Balancer",
    "ConnectionBudget",
    "HashRing",
    "Keepalive",
    "LeastConnections",
    "Message",
    "Modulo",
    "Offer",
    "Reader",
    "Reconnection",
    "Reconnector",
    "Rendezvous",
    "Replay",
    "ReplayBuffer",
    "RoundRobin",
    "SendQueue",
    "Sticky",
    "TokenBucket",
    "assign_rooms",
    "make_balancer",
    "resume_decision",
    "stable_hash",
    "stable_hash_array",
    "tightest",
]
