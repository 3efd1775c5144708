"""`MqttSource`: one broker connection, its subscriptions, and the decoding that follows.

Three tasks per broker:
- the **network** task keeps an aiomqtt connection up (bounded exponential backoff with jitter,
  resubscribing after every reconnect) and moves received messages into a bounded queue, each
  tagged with the generation of the connection it arrived on;
- the **decoding** task takes messages off that queue in batches, decodes them with the decoder
  of the subscription they match, applies inventory identities, emits the points, and only
  then acknowledges the batch's QoS 1 messages (PUBACK, in order);
- the **health** task checks gateway staleness and keeps the gateway state file.

Delivery (QoS 1): paho's automatic PUBACK on receipt is turned off (`_manual_acks`). A QoS 1
message is acknowledged once `emit` has returned for the batch holding it, i.e. once its points
are committed to the spool; a message that was rejected as malformed or ignored is acknowledged
with its batch too (counted, never redelivered forever). If `emit` raises nothing of the batch
is acknowledged: the connection is retired (no later ack may overtake the missing ones, MQTT
acks are in order) and the network task reconnects with backoff, so the broker redelivers
from the persistent session. Acks belong to one connection: a message from an older
connection is never acknowledged on a newer one (the broker redelivers it; writes are
idempotent because points carry the message's own timestamp). With a persistent session
(stable client ID, `clean_session=false` / MQTT 5 session expiry) this is at-least-once from
broker to spool, across a broker restart and across a SIGKILL of the agent.

Session loss: a broker restarted without its persistence (misconfigured, full disk) answers a
reconnect with CONNACK "session present: 0": the QoS 1 messages it had queued for us are gone.
When we expected our session (persistent, a previous connection of this process subscribed, and
under MQTT 5 its expiry not yet passed) that is logged as a warning naming the broker, counted
(`mqtt_sessions_lost`) and written as an `event` point (`event=mqtt_session_lost`), then the
subscriptions are made again as after every connect. The first connect of a process is never
an alarm: a broker may rightly have no session for a new agent.

Backpressure: unacknowledged QoS 1 messages are bounded by the broker's in-flight window (MQTT 5
Receive Maximum, which we set to `queue_size`; mosquitto `max_inflight_messages` in 3.1.1, 20
by default), so the queues never overflow with QoS 1: the broker keeps the backlog. QoS 0
messages are unchanged: when our queue is full the network task waits while aiomqtt's receive
queue absorbs the burst, and beyond `queue_size` there new QoS 0 messages are dropped and
*counted* (`mqtt_queue_dropped`). Memory stays bounded (2 x `queue_size` + the in-flight window).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sentinelle.agent.backoff import Backoff
from sentinelle.agent.configtypes import secret_value
from sentinelle.agent.core import Emit, Point
from sentinelle.agent.events import event_point
from sentinelle.agent.logs import Problems
from sentinelle.agent.selfmetrics import AgentMetrics
from sentinelle.collectors.mqtt.decoders import DecodeError, Decoder, decoder_for
from sentinelle.collectors.mqtt.gateways import GatewayHealth
from sentinelle.collectors.mqtt.inventory import LoraInventory
from sentinelle.collectors.mqtt.settings import MqttBrokerSettings, MqttSubscriptionSettings
from sentinelle.collectors.mqtt.tls import tls_context
from sentinelle.collectors.mqtt.topics import TopicFilter, shared

log = logging.getLogger("sentinelle.collectors.mqtt")

BATCH_MAX = 2000
_ROUTE_CACHE_MAX = 20_000


@dataclass(frozen=True, slots=True)
class Route:
    """A subscription: its filter, its decoder, and its label in metrics (the filter text)."""

    filter: TopicFilter
    decoder: Decoder
    qos: int

    @property
    def label(self) -> str:
        return self.filter.text


def subscriptions_of(broker: MqttBrokerSettings) -> list[MqttSubscriptionSettings]:
    """`topics:` (broker format) and `subscriptions:` as one list, in order."""
    return [MqttSubscriptionSettings(topic=t) for t in broker.topics] + list(broker.subscriptions)


class _CountingQueue(asyncio.Queue):  # type: ignore[type-arg]
    """aiomqtt's receive queue. `maxsize` bounds QoS 0 messages only: one refused because the
    queue holds that many is counted (aiomqtt then discards it and logs to the quiet paho
    logger). QoS 1 messages are always accepted: dropping one would lose it for the life of the
    connection and hold a slot of the broker's in-flight window, which already bounds them."""

    def __init__(self, maxsize: int = 0, *, on_overflow: Callable[[], None]):
        super().__init__(0)
        self._limit = maxsize
        self._on_overflow = on_overflow

    def put_nowait(self, item: Any) -> None:
        if self._limit > 0 and item.qos == 0 and self.qsize() >= self._limit:
            self._on_overflow()
            raise asyncio.QueueFull
        super().put_nowait(item)


Ack = Callable[[int, int], object]


def _manual_acks(client: aiomqtt.Client) -> Ack:
    """Turn off paho's PUBACK-on-receipt for this client; return `ack(mid, qos)`.

    aiomqtt has no public API for manual acknowledgement, so this reaches the paho client
    through aiomqtt's private `_client` attribute (checked with aiomqtt 2.5.1 and paho-mqtt
    2.2.0). aiomqtt makes one paho client per `aiomqtt.Client`, i.e. per connection here, and
    wraps each paho message with its `mid` and `qos`. paho's `ack()` only queues the PUBACK
    (PUBCOMP for QoS 2) and asks aiomqtt's write callback to send it: call it from the event
    loop thread, as aiomqtt does for `publish()`, and only for messages received on that same
    client (mids are per connection; paho forgets unacknowledged QoS 1 messages on reconnect
    and the broker redelivers them). Fails loudly if a future version moves it: silently
    never acknowledging would stall delivery once the broker's in-flight window is full.
    """
    paho = getattr(client, "_client", None)
    if paho is None or not hasattr(paho, "manual_ack_set") or not hasattr(paho, "ack"):
        raise RuntimeError("aiomqtt without a paho-mqtt 2.x client in `_client`: cannot acknowledge QoS 1 "
                           "messages after they are stored (checked with aiomqtt 2.5.1, paho-mqtt 2.2.0)")
    paho.manual_ack_set(True)
    return cast(Ack, paho.ack)


class SessionFlag:
    """The CONNACK's "session present" flag of one connection, which aiomqtt does not expose.

    Wraps the paho client's `on_connect` (aiomqtt's own handler still runs, first) through the
    same private `_client` as `_manual_acks`. `present` stays None if no CONNACK was seen."""

    def __init__(self, client: aiomqtt.Client):
        self.present: bool | None = None
        paho = getattr(client, "_client", None)
        inner = getattr(paho, "on_connect", None)
        if paho is None or inner is None:
            raise RuntimeError("aiomqtt without a paho-mqtt 2.x client in `_client`: cannot read the CONNACK "
                               "session-present flag (checked with aiomqtt 2.5.1, paho-mqtt 2.2.0)")

        def on_connect(c: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any = None) -> None:
            inner(c, userdata, flags, reason_code, properties)
            self.present = bool(getattr(flags, "session_present", False))

        paho.on_connect = on_connect


def _paho_logger() -> logging.Logger:
    """paho logs every socket error at ERROR, unthrottled; connection problems are already
    reported (rate-limited) by `MqttSource`, so paho speaks only when debugging."""
    if log.isEnabledFor(logging.DEBUG):
        return logging.getLogger("sentinelle.collectors.mqtt.paho")
    quiet = logging.Logger("sentinelle.collectors.mqtt.paho", level=logging.CRITICAL + 1)
    quiet.addHandler(logging.NullHandler())
    return quiet


class MqttSource:
    """A `collectors.base.Source` for one broker."""

    def __init__(
        self,
        broker: MqttBrokerSettings,
        *,
        client_id: str,
        metrics: AgentMetrics,
        problems: Problems,
        inventory: LoraInventory | None = None,
        health: GatewayHealth | None = None,
        name: str | None = None,
    ):
        self.broker = broker
        self.client_id = client_id
        self._name = name or broker.name or f"{broker.host}:{broker.port}"
        self.problems = problems
        self.inventory = inventory or LoraInventory({}, {}, broker.site)
        self.health = health or GatewayHealth(broker.gateway_staleness)
        self.routes = [
            Route(TopicFilter.parse(sub.topic), decoder_for(sub, broker.format), sub.qos if sub.qos is not None else broker.qos)
            for sub in subscriptions_of(broker)
        ]
        self._tls = tls_context(broker)
        # (connection generation, message): acks go only to the connection a message came on.
        self._queue: asyncio.Queue[tuple[int, aiomqtt.Message]] = asyncio.Queue(maxsize=broker.queue_size)
        self._generation = 0
        # The live connection's (generation, ack), None while disconnected or once retired.
        self._acker: tuple[int, Ack] | None = None
        # Cancels the live connection's block when the decoding task retires it.
        self._connection_scope: asyncio.Timeout | None = None
        self._route_cache: dict[str, tuple[Route, list[str]] | None] = {}
        # Set while connected and subscribed; tests and `sentinelle check` wait on it.
        self.connected = asyncio.Event()
        # How many times the subscriptions were (re)made: proves a resubscribe after reconnect.
        self.subscribe_rounds = 0
        # Monotonic time the last subscribed connection ended; None before the first one.
        self._session_since: float | None = None
        self._session_flag: SessionFlag | None = None

        b = {"broker": self._name}
        self._m_received = metrics.counter("mqtt_messages_received", "MQTT messages received", ["broker"]).labels(**b)
        self._m_rejected = metrics.counter(
            "mqtt_messages_rejected", "MQTT messages skipped as malformed, by subscription and reason",
            ["broker", "topic", "reason"])
        self._m_ignored = metrics.counter(
            "mqtt_messages_ignored", "MQTT messages understood but carrying no measurement", ["broker", "topic"])
        self._m_points = metrics.counter("mqtt_points_decoded", "Points decoded from MQTT messages", ["broker"]).labels(**b)
        self._m_dropped = metrics.counter(
            "mqtt_queue_dropped", "MQTT messages dropped because the receive queues were full", ["broker"]).labels(**b)
        self._m_depth = metrics.gauge("mqtt_queue_depth", "MQTT messages waiting to be decoded", ["broker"]).labels(**b)
        self._m_connected = metrics.gauge("mqtt_connected", "1 while connected and subscribed", ["broker"]).labels(**b)
        self._m_connects = metrics.counter("mqtt_connects", "Successful MQTT connections", ["broker"]).labels(**b)
        self._m_sessions_lost = metrics.counter(
            "mqtt_sessions_lost", "Reconnects where the broker had lost our persistent session (QoS 1 messages "
            "queued for us while away are gone)", ["broker"]).labels(**b)
        self._m_failures = metrics.counter(
            "mqtt_connection_failures", "MQTT connection attempts failed or connections lost", ["broker"]).labels(**b)
        self._m_sub_failures = metrics.counter(
            "mqtt_subscribe_failures", "Subscriptions refused by the broker", ["broker", "topic"])
        self._m_emit_failures = metrics.counter(
            "mqtt_emit_failures", "Batches of MQTT points the pipeline refused", ["broker"]).labels(**b)
        self._m_acked = metrics.counter(
            "mqtt_messages_acked", "QoS 1 messages acknowledged to the broker after their points were stored",
            ["broker"]).labels(**b)
        self._m_unacked = metrics.counter(
            "mqtt_messages_left_unacked", "QoS 1 messages handled but not acknowledged (their connection was gone "
            "or retired, or the pipeline refused them): the broker redelivers them", ["broker"]).labels(**b)

    @property
    def name(self) -> str:
        return self._name

    # --- running ------------------------------------------------------------------------------

    async def run(self, emit: Emit) -> None:
        if not await asyncio.to_thread(self.health.load):
            self.problems.report(("mqtt", self._name, "gateway-state"), "gateway state file unreadable, starting empty",
                                 broker=self._name)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._network_loop(emit), name=f"mqtt-net-{self._name}")
                tg.create_task(self._decode_loop(emit), name=f"mqtt-decode-{self._name}")
                tg.create_task(self._health_loop(emit), name=f"mqtt-health-{self._name}")
        finally:
            self._m_connected.set(0)
            self.connected.clear()
            data = self.health.dump()
            if data is not None:
                self.health.write(data)

    def make_client(self) -> tuple[aiomqtt.Client, Ack]:
        """A new aiomqtt client (one per connection) with manual QoS 1 acks, and its `ack`."""
        b = self.broker
        persistent = b.session_persistent
        kwargs: dict[str, Any] = {
            "hostname": b.host,
            "port": b.port,
            "username": b.username,
            "password": secret_value(b.password),
            "identifier": self.client_id,
            "keepalive": max(5, int(b.keepalive)),
            "tls_context": self._tls,
            "timeout": 10,
            "logger": _paho_logger(),
            "queue_type": cast(Any, functools.partial(_CountingQueue, on_overflow=self._overflow)),
            "max_queued_incoming_messages": b.queue_size,
        }
        if b.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = int(b.session_expiry) if persistent else 0
            # In-flight window: unacknowledged QoS 1 messages the broker may send us. As large as
            # our queue (so it never overflows with QoS 1) and well above a decoding batch, so the
            # broker keeps sending while a batch is being committed.
            props.ReceiveMaximum = min(b.queue_size, 65535)
            kwargs |= {"protocol": aiomqtt.ProtocolVersion.V5, "clean_start": not persistent, "properties": props}
        else:
            kwargs |= {"protocol": aiomqtt.ProtocolVersion.V311, "clean_session": not persistent}
        client = aiomqtt.Client(**kwargs)
        self._session_flag = SessionFlag(client)
        return client, _manual_acks(client)

    def _expects_session(self) -> bool:
        """Should the broker still hold our session? Persistent, connected before in this process,
        and (MQTT 5) not away for longer than the session expiry we asked for."""
        b = self.broker
        if not b.session_persistent or self._session_since is None:
            return False
        away = time.monotonic() - self._session_since
        return not (b.protocol == "5" and away >= float(b.session_expiry))

    async def _check_session(self, emit: Emit) -> None:
        flag = self._session_flag.present if self._session_flag is not None else None
        if flag is not False or not self._expects_session():
            return
        self._m_sessions_lost.inc()
        message = (f"MQTT broker {self._name} lost our persistent session (CONNACK session present = 0 on "
                   f"reconnect): QoS 1 messages queued for us while disconnected are gone")
        log.warning("%s; subscriptions made again (check the broker's persistence and disk)", message,
                    extra={"broker": self._name})
        tags = {"broker": self._name}
        if self.broker.site:
            tags["site"] = self.broker.site
        point = event_point("mqtt_session_lost", "instant", message[:200], time.time_ns(), tags)
        try:
            await emit([point])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the warning and the counter already say it
            self._m_emit_failures.inc()
            self.problems.report(("mqtt", self._name, "emit"), "pipeline refused the session-loss event: %s",
                                 type(exc).__name__, broker=self._name)

    async def _network_loop(self, emit: Emit) -> None:
        backoff = Backoff(self.broker.reconnect_min, self.broker.reconnect_max)
        queue = self._queue
        retired = False  # the last connection was retired by a pipeline failure
        while True:
            self._generation += 1
            generation = self._generation
            scope: asyncio.Timeout | None = None
            try:
                client, ack = self.make_client()
                async with asyncio.timeout(None) as scope, client:
                    self._acker, self._connection_scope = (generation, ack), scope
                    try:
                        await self._subscribe(client)
                        await self._check_session(emit)
                        self._session_since = None
                        self._m_connects.inc()
                        self._m_connected.set(1)
                        self.connected.set()
                        if not retired:  # a pipeline that keeps failing gets longer and longer pauses
                            backoff.reset()
                        self.problems.clear(("mqtt", self._name, "connection"))
                        log.info("connected to MQTT broker", extra={"broker": self._name})
                        received = self._m_received
                        async for message in client.messages:
                            received.inc()
                            await queue.put((generation, message))  # waits while decoding catches up
                    finally:
                        # No ack for this connection from now on, not even while it closes.
                        self._acker = self._connection_scope = None
                        if self.subscribe_rounds:
                            self._session_since = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: count, log once, retry later
                self._m_failures.inc()
                delay = backoff.next_delay()
                retired = isinstance(exc, TimeoutError) and scope is not None and scope.expired()
                if retired:
                    # Retired by the decoding task (the pipeline refused a batch): reconnect so
                    # the broker redelivers what was not acknowledged.
                    log.info("MQTT connection retired after a pipeline failure; reconnecting in %.1fs", delay,
                             extra={"broker": self._name})
                else:
                    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                    self.problems.report(("mqtt", self._name, "connection"),
                                         "MQTT connection failed or lost (%s); retrying with backoff (next in %.1fs)",
                                         reason, delay, broker=self._name)
            else:
                retired = False
                delay = backoff.next_delay()
            self._m_connected.set(0)
            self.connected.clear()
            await asyncio.sleep(delay)

    def _retire_connection(self) -> None:
        """Stop acknowledging on the live connection and make the network task reconnect."""
        self._acker = None
        scope = self._connection_scope
        self._connection_scope = None
        if scope is not None:
            scope.reschedule(asyncio.get_running_loop().time())

    def _overflow(self) -> None:
        self._m_dropped.inc()
        self.problems.report(("mqtt", self._name, "queue-full"),
                             "receive queues full (2 x %d): dropping messages", self.broker.queue_size,
                             broker=self._name, reason="queue_full")

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        for route in self.routes:
            topic = shared(route.filter.text, self.broker.shared_group)
            granted = await client.subscribe(topic, qos=route.qos)
            for code in granted:
                failed = getattr(code, "is_failure", None)
                if failed is None:
                    failed = int(code) >= 0x80
                if failed:
                    self._m_sub_failures.labels(broker=self._name, topic=route.label).inc()
                    self.problems.report(("mqtt", self._name, "subscribe", route.label),
                                         "broker refused subscription %s (%s)", topic, code,
                                         broker=self._name, topic=route.label)
        self.subscribe_rounds += 1

    # --- decoding -----------------------------------------------------------------------------

    async def _decode_loop(self, emit: Emit) -> None:
        queue = self._queue
        while True:
            items = [await queue.get()]
            while len(items) < BATCH_MAX and not queue.empty():
                items.append(queue.get_nowait())
            self._m_depth.set(queue.qsize())
            batch: list[Point] = []
            for _generation, message in items:
                batch.extend(self.decode_message(message))
            if batch:
                self._m_points.inc(len(batch))
                try:
                    await emit(batch)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the pipeline's problem must not end the subscription
                    self._m_emit_failures.inc()
                    self.problems.report(("mqtt", self._name, "emit"), "pipeline refused %d MQTT points: %s",
                                         len(batch), type(exc).__name__, broker=self._name)
                    self._refused(items)
                    continue
            self._ack(items)

    def _ack(self, items: list[tuple[int, aiomqtt.Message]]) -> None:
        """Acknowledge, in order, the QoS 1 messages of a handled batch that came on the live
        connection; older connections' messages are left to the broker's redelivery."""
        acker = self._acker
        acked = skipped = 0
        for generation, message in items:
            if message.qos > 0:
                if acker is not None and generation == acker[0]:
                    acker[1](message.mid, message.qos)
                    acked += 1
                else:
                    skipped += 1
        if acked:
            self._m_acked.inc(acked)
        if skipped:
            self._m_unacked.inc(skipped)

    def _refused(self, items: list[tuple[int, aiomqtt.Message]]) -> None:
        """The pipeline refused a batch: acknowledge none of it. If it holds QoS 1 messages of the
        live connection, retire that connection: a later ack would overtake the missing ones
        (MQTT acks are in order) and they would hold the broker's in-flight window until a
        reconnect anyway, which is when the broker redelivers them."""
        acker = self._acker
        generations = [g for g, m in items if m.qos > 0]
        if generations:
            self._m_unacked.inc(len(generations))
        if acker is not None and acker[0] in generations:
            self._retire_connection()

    def route(self, topic: str) -> tuple[Route, list[str]] | None:
        cache = self._route_cache
        try:
            return cache[topic]
        except KeyError:
            pass
        found = None
        for route in self.routes:
            levels = route.filter.match(topic)
            if levels is not None:
                found = (route, levels)
                break
        if len(cache) >= _ROUTE_CACHE_MAX:
            cache.clear()
        cache[topic] = found
        return found

    def decode_message(self, message: aiomqtt.Message) -> list[Point]:
        """Decode one message: points out, or counted and logged once, never an exception."""
        topic = message.topic.value
        received_ns = time.time_ns()
        matched = self.route(topic)
        if matched is None:
            self._m_ignored.labels(broker=self._name, topic="(no subscription)").inc()
            return []
        route = matched[0]
        payload = message.payload
        if not isinstance(payload, bytes):
            payload = bytes(payload) if isinstance(payload, bytearray) else str(payload).encode()
        try:
            points = route.decoder(topic, payload, received_ns)
        except DecodeError as exc:
            self._reject(route, topic, exc.reason, exc.detail)
            return []
        except Exception as exc:  # noqa: BLE001 - a decoder bug must not stop the subscription
            self._reject(route, topic, "decoder_error", type(exc).__name__)
            return []
        if not points:
            self._m_ignored.labels(broker=self._name, topic=route.label).inc()
            return []
        events = self.health.observe(points, received_ns, retained=bool(message.retain))
        if events:
            points.extend(events)
        self.inventory.enrich(points)
        return points

    def _reject(self, route: Route, topic: str, reason: str, detail: str) -> None:
        self._m_rejected.labels(broker=self._name, topic=route.label, reason=reason).inc()
        self.problems.report(("mqtt", self._name, route.label, reason),
                             "malformed MQTT message skipped (%s)", detail or reason,
                             broker=self._name, topic=topic, reason=reason)

    # --- gateway health -----------------------------------------------------------------------

    async def _health_loop(self, emit: Emit) -> None:
        interval = max(0.2, min(60.0, self.health.staleness_ns / 1e9 / 3))
        while True:
            await asyncio.sleep(interval)
            points = self.health.check(time.time_ns())
            if points:
                self.inventory.enrich(points)
                try:
                    await emit(points)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001
                    self._m_emit_failures.inc()
                    self.problems.report(("mqtt", self._name, "emit"), "pipeline refused %d gateway points: %s",
                                         len(points), type(exc).__name__, broker=self._name)
            data = self.health.dump()
            if data is not None:
                try:
                    await asyncio.to_thread(self.health.write, data)
                except OSError as exc:
                    self.problems.report(("mqtt", self._name, "gateway-state-write"),
                                         "cannot write gateway state file: %s", exc.strerror, broker=self._name)
