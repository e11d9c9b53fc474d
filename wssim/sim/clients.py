"""The client population: arrival ramp, room membership, connect and reconnect, resume, offline periods.

Per-client state lives in flat Python lists indexed by client id (cheap to index at a million
clients); per-client attributes are drawn as whole arrays from their named streams. A client costs
events only when it acts: an initial connect, a handshake completing, a reconnect, an offline period,
an idle cut that will really happen.

Reconnects follow :class:`wssim.policies.Reconnector` (the live load generator's policy too): the
backoff delay, never less than the floor of what happened (a refused or reset attempt
``clients.refused_cost``, a dropped SYN ``clients.syn_retry``, a 503 the ``retry_after`` it was told),
and give-up after ``max_attempts``. The policy's state (attempt, previous draw) lives here in flat
lists. A client whose handshake is still queued after ``clients.connect_timeout`` gives up on it and
backs off, but the gateway still spends the CPU on it when its turn comes: wasted work that keeps a
storm going.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

import numpy as np

from wssim.metrics import bin_index
from wssim.policies import Reconnector, reconnect
from wssim.randomness import Stream
from wssim.sim.edge import DROPPED
from wssim.sim.gateway import DRAINING, OK, UNAVAILABLE, UP
from wssim.sim.roomtable import memberships
from wssim.sim.tables import shared

IDLE, WAIT, HANDSHAKE, CONNECTED, OFFLINE, GONE = range(6)


class Clients:
    """Every client's connection state and behaviour."""

    def __init__(self, world: Any) -> None:
        cfg = world.cfg
        cl = cfg.clients
        self.world = world
        self.n0 = cl.count
        extra = sum(f.connect_clients for f in cfg.faults if f.kind == "spike")
        self.total = n = cl.count + extra
        self.population = cl.count
        self.k = k = cl.rooms.per_client if cl.rooms.count else 0
        rooms = memberships(cfg, world.streams.generator(Stream.ROOMS), n)
        self.rooms: list[int] = rooms.reshape(-1).tolist()
        slow = world.streams.generator(Stream.SLOW_CONSUMERS).random(n) < cl.slow_consumers.fraction
        self.queued: list[bool] = (slow | (cl.drain_rate is not None)).tolist() if n else []
        self.slow = slow
        self.state = bytearray(n)  # IDLE (0) .. GONE
        self.arrive_at = [math.nan] * n  # first connect time (the schedule records it)
        self.gw_np, self.gw = shared(n, np.int64, -1)  # the gateway of each client's socket
        self.gen = [0] * n
        self.attempt = [0] * n
        self.prev = [0.0] * n
        self.since = [0.0] * n  # when the current connection was established
        self.joined = [False] * n
        self.cursor = [0] * (n * k)
        self.epoch = [0] * (n * k)
        self.inbox: dict[int, int] = {}  # direct messages held for offline clients (durable kinds)
        self.room_logical_np, self.room_logical = shared(world.rooms, np.int64)  # members owed each message
        self.connected = 0
        self.actions = 0  # connect attempts dispatched (for benchmarks)
        # The agenda (see _run_agenda): arrival streams [times, first client, next index], handshakes
        # completing (time, seq, client, attempt), and when it is due to run.
        self._arrivals: list[list[Any]] = []
        self._due: list[tuple[float, int, int, int]] = []
        self._seq = 0
        self._wakes: list[float] = []
        self._running = False  # the agenda is running its items
        self.reconnector = Reconnector.from_config(cfg)
        self.bdraws = world.streams.draws(Stream.BACKOFF)
        self.odraws = world.streams.draws(Stream.OFFLINE)
        self.off = cl.offline
        self.step = cfg.interval
        if n:
            for i in np.nonzero(np.asarray(self.queued))[0].tolist():
                world.consumers.make(i, bool(slow[i]))

    # -- arrivals ---------------------------------------------------------------------------
    def arrival_times(self, n: int, start: float, window: float, entity: int) -> list[float]:
        """Connect times of ``n`` clients spread over ``window`` from ``start``."""
        if self.world.cfg.clients.arrival == "poisson":
            rng = self.world.streams.generator(Stream.ARRIVALS, entity)
            t = np.sort(rng.random(n)) * window
        else:
            t = np.arange(n, dtype=float) * (window / n) if n else np.zeros(0)
        return (t + start).tolist()

    def arrivals(self, first: int, times: list[float]) -> None:
        """Clients ``first, first+1, ...`` connect at ``times`` (sorted), through the agenda."""
        self.arrive_at[first : first + len(times)] = times
        self._arrivals.append([times, first, 0])
        if times:
            self._wake(times[0])

    def arrivals_to_come(self) -> int:
        """Clients whose first connect is still ahead."""
        return sum(len(times) - i for times, _, i in self._arrivals)

    def start(self) -> None:
        """Schedule the initial connect ramp."""
        ramp = self.world.cfg.clients.connect_ramp
        self.arrivals(0, self.arrival_times(self.n0, 0.0, ramp, 0))

    # -- the agenda: arrivals and handshakes completing, without an event each ---------------
    def _wake(self, t: float) -> None:
        """Make sure the agenda runs at ``t`` (or earlier); nothing to do while it runs (it looks for
        its next item itself, and schedules its wake-up when it stops)."""
        if self._running:
            return
        wakes = self._wakes
        if not wakes or wakes[0] > t:
            heapq.heappush(wakes, t)
            self.world.call_at(t, self._run_agenda)

    def _run_agenda(self, ev: Any) -> None:
        """Run the agenda's arrivals and completed handshakes in time order, each at its own time, up to
        the next other event of the run (which goes first at a tie), then sleep until the next item.

        Nothing else happens between two agenda items run here, so advancing the clock to each one's
        time is what SimPy would do with one event per item: the order and the times are the same.
        """
        heapq.heappop(self._wakes)
        self._running = True
        try:
            t = self._run_items()
        finally:
            self._running = False
        if t < math.inf:
            self._wake(t)

    def _run_items(self) -> float:
        """:meth:`_run_agenda`'s loop; returns the time of the next item (inf: none)."""
        env = self.world.env
        events = env._queue  # SimPy's own heap: its head is the next other event (env.peek())
        due, streams, state = self._due, self._arrivals, self.state
        pop, establish, connect, inf = heapq.heappop, self.establish, self.connect, math.inf
        while True:
            t_due = due[0][0] if due else inf
            t_arr, stream = inf, None
            for st in streams:
                if st[2] < len(st[0]) and st[0][st[2]] < t_arr:
                    t_arr, stream = st[0][st[2]], st
            t = t_due if t_due <= t_arr else t_arr
            if t == inf or (events and t >= events[0][0]):
                return t
            env._now = t  # nothing is scheduled before t (see above)
            if t_due <= t_arr:
                _, _, c, gen = pop(due)
                establish(c, gen)
            else:
                assert stream is not None
                c = stream[1] + stream[2]
                stream[2] += 1
                if state[c] == IDLE:
                    connect(c, False)

    # -- connecting -------------------------------------------------------------------------
    def connect(self, c: int, again: bool) -> None:
        """Client ``c`` opens a connection now."""
        w = self.world
        now = w.env.now
        self.actions += 1
        w.attempt_bins[bin_index(now, self.step)] += 1
        if again:
            w.rec.count("reconnect_attempts")
            w.rec.rate("reconnects", now)
        state, gens = self.state, self.gen
        state[c] = HANDSHAKE
        gen = gens[c] + 1
        gens[c] = gen
        outcome, g, done = w.edge.connect(c, now, again)
        if state[c] != HANDSHAKE or gens[c] != gen:
            return  # the gateway crashed while accepting (OOM); already handled
        if outcome == OK:
            self.gw[c] = g
            timeout = self.reconnector.connect_timeout
            if done - now > timeout:
                w.call_at(now + timeout, self._timed_out, (c, gen))
            else:
                self._seq += 1
                heapq.heappush(self._due, (done, self._seq, c, gen))
                self._wake(done)
            return
        self.gw[c] = -1
        if outcome == DROPPED:
            self.retry(c, reconnect.DROPPED)
        elif outcome == UNAVAILABLE:
            self.retry(c, reconnect.UNAVAILABLE)
        else:
            self.retry(c, reconnect.REFUSED)

    def _timed_out(self, ev: Any) -> None:
        c, gen = ev.value
        if self.gen[c] != gen or self.state[c] != HANDSHAKE:
            return
        w = self.world
        w.rec.count("connect_timeouts")
        w.gateways[self.gw[c]].release(c)
        self.gw[c] = -1
        self.retry(c, reconnect.TIMEOUT)

    def retry(self, c: int, outcome: int = reconnect.CLOSED) -> None:
        """Schedule client ``c``'s next attempt after ``outcome`` (a failed attempt, a lost connection)."""
        step = self.reconnector.retry(self.attempt[c], self.prev[c], self.bdraws, outcome)
        if step is None:
            self.give_up(c)
            return
        wait, self.prev[c] = step
        self.attempt[c] += 1
        self.state[c] = WAIT
        w = self.world
        w.call_at(w.env.now + wait, self._retry_due, c)

    def _retry_due(self, ev: Any) -> None:
        c = ev.value
        if self.state[c] == WAIT:
            self.connect(c, True)

    def give_up(self, c: int) -> None:
        """Client ``c`` exhausted its attempts: it leaves for good."""
        self.state[c] = GONE
        self.world.rec.count("clients_gave_up")
        self.world.observer.left(self.world.env.now, c)
        if self.joined[c]:
            k = self.k
            for i in range(c * k, c * k + k):
                self.room_logical[self.rooms[i]] -= 1

    def establish(self, c: int, gen: int) -> None:
        """Client ``c``'s handshake of attempt ``gen`` completed now (if still current): it is connected."""
        if self.gen[c] != gen or self.state[c] != HANDSHAKE:
            return
        w = self.world
        g = w.gateways[self.gw[c]]
        if g.state not in (UP, DRAINING):
            return
        now = w.env.now
        self._accept(c, g, now)
        self._join_rooms(c, g, now)
        if w.idle_timeout is not None:
            cut = w.keepalive.idle_cut_at(now, w.idle_timeout)
            if cut is not None:
                w.call_at(cut, self._idle_check, (c, gen))
        if self.off.rate > 0:
            w.call_at(now + self.odraws.exponential() / self.off.rate, self._go_offline, (c, gen))

    def _accept(self, c: int, g: Any, now: float) -> None:
        """The bookkeeping of ``c``'s new connection on ``g``: its state, the counts, the handshake
        series, the observer, and its send queue when it reads at a finite rate."""
        w = self.world
        self.state[c] = CONNECTED
        self.attempt[c] = 0
        self.prev[c] = 0.0
        self.since[c] = now
        self.connected += 1
        w.handshake_bins[bin_index(now, self.step)] += 1
        w.observer.connected(now, c)
        if self.queued[c]:
            w.consumers.attach(c, g, now)

    def _join_rooms(self, c: int, g: Any, now: float) -> None:
        """``c`` joins its rooms on ``g``: a first join is owed what is in flight to ``g``; a reconnect
        resumes from its cursors (or loses the gap), then gets what was held for it (its inbox)."""
        w = self.world
        rec, hist = w.rec, w.history
        tops, epochs, lives = hist.last, hist.epoch, g.last
        rooms, cursor, epoch = self.rooms, self.cursor, self.epoch
        queued = self.queued[c]
        st = w.consumers.states[c] if queued else None
        join, member = g.join, c if queued else -1
        first = not self.joined[c]
        resume = self.reconnector.resumes(not first)
        served = True
        k = self.k
        for i in range(c * k, c * k + k):
            r = rooms[i]
            join(r, member)
            top = tops[r]
            live = lives[r]  # this gateway's next live delivery of the room is live + 1
            if first:
                self.room_logical[r] += 1
                if top > live:  # in flight to this gateway: the new member will get them too
                    w.expected(top - live, r)
                cur = live
            else:
                served &= self._catch_up(i, r, live, resume, queued, now)
                cur = top
            cursor[i] = cur
            epoch[i] = epochs[r]
            if st is not None:
                st.cursor[r] = st.replayed[r] = cur
        if resume:
            rec.count("resume_attempts")
            rec.count("replay_hits" if served else "replay_misses")
        self.joined[c] = True
        inbox = self.inbox.pop(c, 0) if self.inbox else 0
        if inbox:
            rec.count("deliveries_delivered", inbox)
            rec.count("messages_replayed", inbox)

    def _catch_up(self, i: int, r: int, live: int, resume: bool, queued: bool, now: float) -> bool:
        """A reconnecting member (membership ``i``) of room ``r`` catches up from its cursor to the
        room's last message: replayed when it resumes and the window serves it, else the gap is lost
        (a refused resume also fetches a snapshot). False when a resume was refused."""
        w = self.world
        rec, hist = w.rec, w.history
        top, cur = hist.last[r], self.cursor[i]
        if resume:
            ok, n = hist.resume(r, self.epoch[i], cur, now)
            if not ok:
                w.lost(live - cur, r)
                w.snapshot(1)
                return False
            if n:
                hist.serve(n, now)
                rec.count("deliveries_delivered", n)
                w.roomtable.count(rec, "deliveries_delivered", r, n)
                rec.count("messages_replayed", n)
                if top > live and top > cur and not queued:  # replayed, and still coming live
                    rec.count("messages_duplicated", top - max(live, cur))  # (queued: when read)
        elif top > cur:
            w.lost(live - cur, r)
        return True

    def member(self, c: int, room: int) -> bool:
        """Whether client ``c`` is connected and a member of ``room``."""
        k = self.k
        return self.state[c] == CONNECTED and room in self.rooms[c * k : c * k + k]

    # -- closing ----------------------------------------------------------------------------
    def save_cursors(self, c: int, g: Any) -> None:
        """Remember what client ``c`` has received on gateway ``g`` (its resume cursors)."""
        k = self.k
        if self.queued[c]:
            cur = self.world.consumers.states[c].cursor
            for i in range(c * k, c * k + k):
                r = self.rooms[i]
                self.cursor[i] = max(self.cursor[i], cur.get(r, 0))
        else:
            for i in range(c * k, c * k + k):
                last = g.last[self.rooms[i]]
                if last > self.cursor[i]:
                    self.cursor[i] = last

    def close(self, c: int) -> None:
        """Close client ``c``'s socket on both sides (FIN): leave rooms, free the gateway's resources."""
        w = self.world
        g = w.gateways[self.gw[c]]
        if self.state[c] == CONNECTED:
            queued = self.queued[c]
            if queued:  # what it read until now first: its cursor includes it
                w.consumers.detach(c, w.env.now)
            self.save_cursors(c, g)
            k = self.k
            for i in range(c * k, c * k + k):
                g.leave(self.rooms[i], c if queued else -1)
            self.connected -= 1
        g.release(c)
        self.gw[c] = -1

    def drop(self, c: int, reason: str = "") -> None:
        """The server or the path closed client ``c``'s connection: it reconnects with backoff."""
        if self.state[c] not in (CONNECTED, HANDSHAKE):
            return
        self.close(c)
        self.state[c] = WAIT
        self.retry(c)

    def lost_gateway(self, c: int, g: Any) -> None:
        """Gateway ``g`` died under client ``c`` (the gateway resets itself in bulk afterwards)."""
        w = self.world
        if self.state[c] == CONNECTED:
            if self.queued[c]:
                w.consumers.detach(c, w.env.now)
            self.save_cursors(c, g)
            self.connected -= 1
        elif self.state[c] != HANDSHAKE:
            return
        self.gw[c] = -1
        self.state[c] = WAIT
        self.retry(c)

    # -- idle cuts and offline periods ------------------------------------------------------
    def _idle_check(self, ev: Any) -> None:
        c, gen = ev.value
        if self.gen[c] != gen or self.state[c] != CONNECTED:
            return
        w = self.world
        g = w.gateways[self.gw[c]]
        last = self.since[c]
        k = self.k
        for i in range(c * k, c * k + k):
            t = g.last_t[self.rooms[i]]
            if t > last:
                last = t
        due = w.keepalive.idle_cut_at(last, w.idle_timeout)
        if due is not None and due > w.env.now + 1e-9:
            w.call_at(due, self._idle_check, (c, gen))
            return
        w.rec.count("idle_timeout_disconnects")
        self.drop(c, "idle")

    def _go_offline(self, ev: Any) -> None:
        c, gen = ev.value
        if self.gen[c] != gen or self.state[c] != CONNECTED:
            return
        off = self.off
        d = off.mean if off.distribution == "fixed" else off.mean * self.odraws.exponential()
        half_open = off.half_open_fraction > 0 and self.odraws.random() < off.half_open_fraction
        self.go_offline(c, d, half_open)

    def go_offline(self, c: int, d: float, half_open: bool) -> None:
        """Connected client ``c`` drops off the network for ``d`` seconds, without a FIN if ``half_open``."""
        w = self.world
        now = w.env.now
        w.rec.count("offline_periods")
        if w.schedule is not None:
            w.schedule.offline(c, now, d, half_open)
        if half_open:
            w.rec.count("half_open_disappearances")
            self.vanish(c, now)
        else:
            self.close(c)
        self.state[c] = OFFLINE
        w.call_at(now + d, self._back_online, (c, self.gen[c]))

    def vanish(self, c: int, now: float) -> None:
        """Client ``c`` disappears without a FIN: its socket stays on the gateway as a half-open zombie,
        its send queue (what it had not read, and every delivery from now on) in the gateway's memory."""
        w = self.world
        g = w.gateways[self.gw[c]]
        queued = self.queued[c]
        q = w.consumers.hand_over(c, now) if queued else w.consumers.new_queue()
        self.save_cursors(c, g)
        k = self.k
        zid = g.vanish(c, tuple(self.rooms[c * k : c * k + k]), queued, q)
        self.connected -= 1
        self.gw[c] = -1
        w.faults.zombie(g, zid, self.since[c], now)

    def _back_online(self, ev: Any) -> None:
        c, gen = ev.value
        if self.gen[c] != gen or self.state[c] != OFFLINE:
            return
        self.state[c] = WAIT
        self.retry(c)
