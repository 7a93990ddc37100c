"""Messages between organisations: CloudEvents 1.0, signed (RFC 9421) with the sending
organisation's key, through an outbox, and checked on the way in.

Out: `enqueue` writes the event (one row per target) and its `federation.message.send`
audit entry in the caller's transaction, so a state change and the messages telling the
partners about it commit together or not at all. The sender loop signs each message when
it sends it (the signature's `created` is fresh on every attempt) and retries with
backoff until the partner answers 2xx; a 4xx other than 408/409/429 gives it up (audited).
Of one collaboration's messages to one partner only the oldest undelivered is sent: they
arrive in order.

In: `receive` finds the organisation the message is for, checks the event's shape, its
signature by a partner's key (the event's `orgid` names the key: a message cannot claim
another sender), the clock skew and the content digest, then takes it once: an event id
already taken with a new signature nonce is a retransmission (answered, not applied
again); with a nonce seen before, it is a replayed capture (refused). The handler's
change, the inbox row and the `federation.message.receive` entry commit together.
Refusals are audited in the receiving organisation's log.

A target organisation on this hub (one hub, several organisations) is delivered to in
process, with the same bytes, signature and checks as over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hub.domain.audit import ActorType, AuditEvent, Outcome, RequestContext
from hub.domain.collaboration import Partner, PartnerStatus
from hub.domain.errors import Conflict, HubError
from hub.ports import Clock, Delivery, FederationTransport, OutboxMessage, UnitOfWorkFactory
from hub.ports.unit_of_work import UnitOfWork
from hub.security.federation import (
    CLOUDEVENTS_CONTENT_TYPE,
    EventRefused,
    PublicOrganisationKeys,
    SignatureRefused,
    encode_event,
    new_event,
    parse_event,
    sign_request,
    verify_request,
)
from hub.services.audit.log import AuditLog
from hub.services.collaboration.organisations import Organisations

log = logging.getLogger("hub.collaboration")

PREFIX = "org.industrialhub."
PARTNER_INVITATION = PREFIX + "partner.invitation"
PARTNER_ACCEPTANCE = PREFIX + "partner.acceptance"
PARTNER_SUSPENSION = PREFIX + "partner.suspension"
PARTNER_RESUMPTION = PREFIX + "partner.resumption"
COLLABORATION_STATE = PREFIX + "collaboration.state"  # CollaborationStateChange
TASK_RESULT = PREFIX + "collaboration.task_result"  # ActivityStateChange
TERMINATE_REQUEST = PREFIX + "collaboration.terminate_request"
DATA_EXCHANGE = PREFIX + "collaboration.data"  # DataExchange
DIRECT_MESSAGE = PREFIX + "direct_message"  # DirectMessage
EVIDENCE_REQUEST = PREFIX + "collaboration.evidence_request"  # answered now, not queued
# Accepted from an organisation that is not (or no longer) an active partner.
PARTNERSHIP_TYPES = frozenset(
    {PARTNER_INVITATION, PARTNER_ACCEPTANCE, PARTNER_SUSPENSION, PARTNER_RESUMPTION}
)
BATCH = 64  # messages in flight at once
MAX_BACKOFF_S = 30.0
FEDERATION = RequestContext("federation", ActorType.SYSTEM)


@dataclass(frozen=True)
class Incoming:
    """A verified message, as a handler gets it."""

    tenant_id: str
    sender: str  # the sending organisation's id (its key's thumbprint)
    partner: Partner | None  # None only for an invitation from an unknown organisation
    event: dict[str, Any]
    sender_keys: PublicOrganisationKeys


@dataclass
class Handled:
    """A handler's answer body, and what to do once its transaction has committed."""

    body: dict[str, Any] = field(default_factory=dict)
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


Handler = Callable[[UnitOfWork, Incoming], Awaitable[Handled]]
# Answers a request now, outside any transaction (it may take its own): its answer body.
Answerer = Callable[[Incoming], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _refusal(status: int, reason: str) -> Answer:
    return Answer(status, {"status": status, "title": "refused", "detail": reason})


class Messenger:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        audit: AuditLog,
        organisations: Organisations,
        transport: FederationTransport,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._audit = audit
        self._orgs = organisations
        self._transport = transport
        self._handlers: dict[str, Handler] = {}
        self._answerers: dict[str, Answerer] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0  # for progress reporting and benches

    def handle(self, event_type: str, handler: Handler) -> None:
        self._handlers[event_type] = handler

    def answer(self, event_type: str, answerer: Answerer) -> None:
        self._answerers[event_type] = answerer

    # --- out ---------------------------------------------------------------------------

    async def enqueue(
        self,
        uow: UnitOfWork,
        tenant_id: str,
        targets: list[str],
        event_type: str,
        data: Any,
        *,
        stream: str = "",
        ctx: RequestContext = FEDERATION,
    ) -> str:
        """Write one message to each target organisation in the caller's transaction, and
        its audit entry; the caller commits, then calls `wake`."""
        me = await self._orgs.org_id(tenant_id)
        event = new_event(
            type=event_type,
            source=self._orgs.endpoint_url(me),
            subject=stream or None,
            data=data,
            extensions={"orgid": me},
        )
        body = encode_event(event)
        now = self._clock.now()
        rows = [
            {
                "tenant_id": tenant_id,
                "event_id": event["id"],
                "target_org": target,
                "stream": stream,
                "type": event_type,
                "body": body,
                "created_at": now,
                "attempts": 0,
                "next_attempt_at": now,
            }
            for target in dict.fromkeys(targets)
            if target != me
        ]
        await uow.collaboration.enqueue(rows)
        for row in rows:
            details = {"event_id": event["id"], "type": event_type, "to": row["target_org"],
                       "digest": digest(body)}  # fmt: skip
            await self._audit.record(
                uow,
                [tenant_id],
                ctx,
                AuditEvent(
                    "federation.message.send",
                    *_resource(stream, row["target_org"]),
                    details=details,
                ),
            )
        return str(event["id"])

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._transport.close()

    async def _run(self) -> None:
        while True:
            try:
                sent = await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away for a moment: try again shortly
                log.warning("federation outbox pass failed", exc_info=True)
                sent = 0
            if sent:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(await self._idle_wait()):
                    await self._wake.wait()

    async def _idle_wait(self) -> float:
        async with self._uow() as uow:
            at = await uow.collaboration.next_due_at()
        if at is None:
            return 5.0
        return max(0.01, min(5.0, (at - self._clock.now()).total_seconds()))

    async def send_due(self) -> int:
        """One pass: send what is due, record the outcomes; how many were delivered."""
        async with self._uow() as uow:
            due = await uow.collaboration.due(self._clock.now(), BATCH)
        if not due:
            return 0
        routes = await self._routes({(m.tenant_id, m.target_org) for m in due})
        answers = await asyncio.gather(
            *(self._send(m, routes[(m.tenant_id, m.target_org)]) for m in due)
        )
        await self._record(list(zip(due, answers, strict=True)))
        done = sum(1 for a in answers if a.accepted)
        self.delivered += done
        return done or (1 if any(a.permanent for a in answers) else 0)

    async def _routes(
        self, pairs: set[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, bool] | None]:
        """Where each (sender tenant, target organisation) of a pass is sent: the inbox URL
        and whether it is on this hub; None when the target is not a partner any more."""
        routes: dict[tuple[str, str], tuple[str, bool] | None] = {}
        async with self._uow() as uow:
            for tenant_id, target in pairs:
                if await self._orgs.tenant_of(target) is not None:
                    routes[(tenant_id, target)] = (self._orgs.endpoint_url(target), True)
                    continue
                partner = await uow.collaboration.partner_by_org(tenant_id, target)
                routes[(tenant_id, target)] = (
                    (partner.endpoint_url, False) if partner is not None else None
                )
        return routes

    async def _send(self, message: OutboxMessage, route: tuple[str, bool] | None) -> Delivery:
        if route is None:
            return Delivery(404, "the target is not a partner")
        url, local = route
        try:
            keys = await self._orgs.keys(message.tenant_id)
            headers = sign_request(
                keys, "POST", url, message.body, CLOUDEVENTS_CONTENT_TYPE,
                now=self._clock.now().timestamp(),
            )  # fmt: skip
            if local:
                answer = await self.receive(message.target_org, "POST", url, headers, message.body)
                return Delivery(answer.status, str(answer.body.get("detail", "")))
            return await self._transport.post(message.tenant_id, url, headers, message.body)
        except HubError as exc:
            return Delivery(0, exc.detail)

    async def _record(self, outcomes: list[tuple[OutboxMessage, Delivery]]) -> None:
        now = self._clock.now()
        async with self._uow(write=True) as uow:
            await uow.collaboration.delivered([m.n for m, a in outcomes if a.accepted], now)
            for message, answer in outcomes:
                if answer.accepted:
                    continue
                attempts = message.attempts + 1
                reason = f"{answer.status or 'unreachable'}: {answer.reason}"[:300]
                if answer.permanent and answer.status != 409:
                    await uow.collaboration.give_up(message.n, attempts, reason)
                    details = {"event_id": message.event_id, "to": message.target_org,
                               "type": message.type, "reason": reason}  # fmt: skip
                    event = AuditEvent(
                        "federation.message.fail",
                        *_resource(message.stream, message.target_org),
                        outcome=Outcome.FAILURE,
                        details=details,
                    )
                    await self._audit.record(uow, [message.tenant_id], FEDERATION, event)
                    continue
                backoff = min(MAX_BACKOFF_S, 0.25 * 2 ** min(attempts, 10))
                at = now + timedelta(seconds=backoff * random.uniform(0.8, 1.2))
                await uow.collaboration.retry_later(message.n, attempts, at, reason)
            await uow.commit()

    # --- in ----------------------------------------------------------------------------

    async def receive(
        self, org_id: str, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> Answer:
        """Check and take one message for organisation `org_id` (see the module's doc)."""
        tenant_id = await self._orgs.tenant_of(org_id)
        if tenant_id is None:
            return _refusal(404, "no such organisation here")
        media = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if media.split(";")[0].strip().lower() != CLOUDEVENTS_CONTENT_TYPE:
            return await self._refuse(
                tenant_id, 415, f"Content-Type must be {CLOUDEVENTS_CONTENT_TYPE}", None, None
            )
        try:
            event = parse_event(body)
        except EventRefused as exc:
            return await self._refuse(tenant_id, 400, exc.reason, None, None)
        claimed = str(event.get("orgid") or "")
        async with self._uow() as uow:
            partner = (
                await uow.collaboration.partner_by_org(tenant_id, claimed) if claimed else None
            )
        keys = _sender_keys(event, partner)
        try:
            verified = verify_request(
                method, url, headers, body,
                lambda keyid: keys if keys is not None and keyid == claimed else None,
                now=self._clock.now().timestamp(),
            )  # fmt: skip
        except SignatureRefused as exc:
            return await self._refuse(tenant_id, 401, exc.reason, event, claimed or None)
        assert keys is not None
        if event["type"] not in PARTNERSHIP_TYPES and (partner is None or not partner.active):
            why = "not an active partner of this organisation"
            return await self._refuse(tenant_id, 403, why, event, claimed)
        incoming = Incoming(tenant_id, claimed, partner, event, keys)
        answerer = self._answerers.get(event["type"])
        if answerer is not None:
            return await self._answer(incoming, answerer, headers, body)
        handler = self._handlers.get(event["type"])
        if handler is None:
            return await self._refuse(tenant_id, 400, "unknown event type", event, claimed)
        return await self._take(incoming, handler, verified.nonce, headers, body)

    async def _take(
        self,
        incoming: Incoming,
        handler: Handler,
        nonce: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Answer:
        tenant_id, sender, event = incoming.tenant_id, incoming.sender, incoming.event
        replayed, handled = False, None
        try:
            async with self._uow(write=True) as uow:
                seen = await uow.collaboration.inbox_nonces(tenant_id, sender, event["id"])
                if seen is not None and nonce in seen:
                    replayed = True  # refused (and audited) once this transaction is over
                elif seen is not None:  # a retransmission: answered, not applied again
                    await uow.collaboration.inbox_nonce(
                        tenant_id, sender, event["id"], [*seen, nonce]
                    )
                    await uow.commit()
                else:
                    handled = await handler(uow, incoming)
                    await uow.collaboration.inbox_add(
                        tenant_id, sender, event["id"], [nonce], self._clock.now()
                    )
                    await self._audit.record(
                        uow, [tenant_id], FEDERATION, _received(event, sender, headers, body)
                    )
                    await uow.commit()
        except Conflict:  # the same event taken by a concurrent delivery: ask again
            return _refusal(409, "being taken by another delivery")
        except HubError as exc:
            return await self._refuse(tenant_id, exc.status, exc.detail, event, sender)
        if replayed:
            return await self._refuse(tenant_id, 403, "replayed", event, sender)
        if handled is None:
            return Answer(200, {"duplicate": True, "id": event["id"]})
        for hook in handled.after_commit:
            try:
                await hook()
            except Exception:  # its state is committed; the hook's own retries apply
                log.warning("after-commit step of %s failed", event["type"], exc_info=True)
        return Answer(202, {"accepted": True, "id": event["id"], **handled.body})

    async def _answer(
        self, incoming: Incoming, answerer: Answerer, headers: Mapping[str, str], body: bytes
    ) -> Answer:
        """A request answered now; recorded like any message received (not de-duplicated:
        it changes nothing, and the signature's skew window bounds a replay)."""
        try:
            answer = await answerer(incoming)
        except HubError as exc:
            tenant_id, event = incoming.tenant_id, incoming.event
            return await self._refuse(tenant_id, exc.status, exc.detail, event, incoming.sender)
        received = _received(incoming.event, incoming.sender, headers, body)
        await self._audit.record_now([incoming.tenant_id], FEDERATION, received)
        return Answer(200, answer)

    async def _refuse(
        self,
        tenant_id: str,
        status: int,
        reason: str,
        event: dict[str, Any] | None,
        sender: str | None,
    ) -> Answer:
        details: dict[str, Any] = {"reason": reason[:300], "status": status}
        if event is not None:
            details |= {
                "event_id": str(event.get("id"))[:256],
                "type": str(event.get("type"))[:128],
            }
        if sender:
            details["from"] = sender[:64]
        stream = str((event or {}).get("subject") or "")[:64]
        audit_event = AuditEvent(
            "federation.message.refuse",
            *_resource(stream, sender or "unknown"),
            outcome=Outcome.DENIED,
            details=details,
        )
        await self._audit.record_now([tenant_id], FEDERATION, audit_event)
        return _refusal(status, reason)

    # --- answers to signed requests (evidence for receipts) -----------------------------

    async def signed_request(
        self, tenant_id: str, target_org: str, url: str, event_type: str, data: Any
    ) -> tuple[int, Any]:
        """A signed request whose answer the caller reads now (not through the outbox)."""
        keys = await self._orgs.keys(tenant_id)
        me = keys.public().org_id
        event = new_event(
            type=event_type, source=self._orgs.endpoint_url(me), subject=None, data=data,
            extensions={"orgid": me},
        )  # fmt: skip
        body = encode_event(event)
        headers = sign_request(
            keys, "POST", url, body, CLOUDEVENTS_CONTENT_TYPE, now=self._clock.now().timestamp()
        )
        if await self._orgs.tenant_of(target_org) is not None:
            answer = await self.receive(target_org, "POST", url, headers, body)
            return answer.status, answer.body
        return await self._transport.request_json(tenant_id, url, headers, body)


def _received(
    event: Mapping[str, Any], sender: str, headers: Mapping[str, str], body: bytes
) -> AuditEvent:
    """The receiving side's entry: with the sender's signature, so its log alone shows
    what the sender signed (the digest is of the body the signature covers)."""
    lower = {k.lower(): v for k, v in headers.items()}
    details = {
        "event_id": event["id"],
        "type": event["type"],
        "from": sender,
        "digest": digest(body),
        "signature_input": lower.get("signature-input", "")[:1000],
        "signature": lower.get("signature", "")[:400],
    }
    stream = str(event.get("subject") or "")
    return AuditEvent("federation.message.receive", *_resource(stream, sender), details=details)


def _resource(stream: str, org: str) -> tuple[str, str]:
    return ("collaboration", stream) if stream else ("organisation", org)


@functools.lru_cache(maxsize=1024)
def _partner_keys(document: str) -> PublicOrganisationKeys:
    """A registered partner's keys (checked when registered; parsed once per document)."""
    return PublicOrganisationKeys.from_document(json.loads(document))


def _sender_keys(
    event: Mapping[str, Any], partner: Partner | None
) -> PublicOrganisationKeys | None:
    """The keys a message must be signed with: the partner's as registered; for an
    invitation from an organisation not known here, the keys it brings (self-certified:
    their thumbprint must be the `orgid` it claims)."""
    if partner is not None and partner.status is not PartnerStatus.INVITED:
        return _partner_keys(json.dumps(partner.keys, sort_keys=True))
    if event.get("type") != PARTNER_INVITATION:
        return None
    data = event.get("data")
    try:
        keys = PublicOrganisationKeys.from_document((data or {}).get("organisation"))
    except Exception:  # any malformed document: no key, so the signature check refuses it
        return None
    return keys if keys.org_id == event.get("orgid") else None
