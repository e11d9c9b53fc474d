"""A gateway killed mid-stream, with real Redis and NATS: durable backplanes replay, the others lose.

Each case is one live run (3 gateway processes, the balancer, 120 clients in two load-generator
processes, a private Redis / NATS server). Publishing pauses around the crash and around the reconnects,
so the ground truth from the publishers' log has no boundary races.
"""

from __future__ import annotations

import pytest
from live_runs import away_truth, crash_config, need_server

from reference_impl.driver.harness import run_live

pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.mark.parametrize("kind", ["redis_streams", "jetstream"])
def test_durable_backplane_every_client_ends_with_every_message_once_in_order(kind: str) -> None:
    need_server(kind)
    result, ledger = run_live(crash_config(kind), settle=1.5, return_ledger=True)
    m = result.metrics
    assert not result.info["errors"], result.info["errors"]
    affected = ledger.events[ledger.events["kind"] == "close"]["cid"].unique()
    assert 25 <= len(affected) <= 60  # about a third of 120 clients were on the killed gateway
    # every disconnected client came back (through another gateway: g1 never restarts) and resumed
    opens = ledger.events[ledger.events["kind"] == "open"].groupby("cid").size()
    assert (opens.loc[affected] == 2).all()
    assert m["resume_attempts"] == len(affected)
    assert m["replay_hits"] == len(affected) and m["replay_misses"] == 0
    assert ledger.counters["replayed"] > 0  # messages published while they were away were replayed
    # exactly once, in order: nothing owed is missing, offsets increase after dropping repeated ids
    assert m["deliveries_expected"] > 0
    assert m["messages_lost"] == 0
    assert (ledger.lost_by_client == 0).all()
    assert m["deliveries_delivered"] == m["deliveries_expected"]
    assert result.info["order_violations"] == 0


@pytest.mark.parametrize("kind", ["redis_pubsub", "nats"])
def test_at_most_once_backplane_loses_what_was_published_while_clients_were_away(kind: str) -> None:
    need_server(kind)
    config = crash_config(kind)
    result, ledger = run_live(config, settle=1.5, return_ledger=True)
    m = result.metrics
    assert not result.info["errors"], result.info["errors"]
    rooms = {int(c): list(r) for c, r in ledger.owed.groupby("cid")["room"]}
    truth, n_away = away_truth(ledger, rooms)
    assert 25 <= n_away <= 60
    assert truth.sum() > 0, "the fault must have cost something"
    # the harness's count equals the ground truth, client by client and in total
    lost = ledger.lost_by_client
    assert (lost.loc[truth.index] == truth).all(), (lost.loc[truth.index] - truth)[lambda d: d != 0]
    assert lost.drop(truth.index).sum() == 0  # clients of the surviving gateways lost nothing
    assert m["messages_lost"] == truth.sum()
    # no history: every resume turns into a snapshot resync
    assert m["replay_hits"] == 0 and m["replay_misses"] == m["resume_attempts"] == n_away
