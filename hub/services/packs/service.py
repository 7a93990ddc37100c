"""Industry packs per tenant: list, install, upgrade, uninstall.

An install checks the parameters (JSON Schema, then every device and tag they name),
then creates the tenant's workflows, alarm rules and policy lines, the installation row
and its audit entries in ONE transaction: a failure anywhere leaves nothing behind.
Uninstalling turns the pack's triggers off, takes its alarm rules out of service and
removes its policy lines; runs, incidents, alarm journals and audit entries stay.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hub.domain.alarms import Alarm
from hub.domain.audit import SYSTEM, AuditEvent, RequestContext
from hub.domain.egress import channel_target
from hub.domain.errors import Conflict, FieldProblem, HubError, NotFound, ValidationFailed
from hub.domain.ids import is_id
from hub.domain.pack_params import parameter_problems
from hub.domain.packs import (
    REDACTED,
    DeviceTagRef,
    Installation,
    Pack,
    SealBroken,
    Substitution,
    SubstitutionError,
    expand_rules,
    is_sealed,
    redact,
    sealing_context,
)
from hub.domain.plc import Device
from hub.domain.tenancy import Tenant
from hub.engine.forms import SecretDigest
from hub.engine.versions import parse_version, version_greater
from hub.ports import Clock, Sealer, UnitOfWork, UnitOfWorkFactory
from hub.services.alarms.service import AlarmService
from hub.services.audit.log import AuditLog
from hub.services.egress.rules import EgressService
from hub.services.packs.generated import blame, generate
from hub.services.workflows.changes import DefinitionChanges
from hub.services.workflows.service import WorkflowService


@dataclass
class _Plan:
    params: dict[str, Any]  # as stored: hashed ones as their digest, write-only ones sealed
    alarms: list[Alarm]
    generated: list[dict[str, Any]] = field(default_factory=list)  # the generators' workflows


class PackService:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        audit: AuditLog,
        catalog: dict[str, Pack],
        workflows: WorkflowService,
        alarms: AlarmService,
        on_authz_change: Callable[[], None],
        secret_digest: SecretDigest,
        sealer: Sealer,
        changes: DefinitionChanges,
        egress: EgressService | None = None,
    ) -> None:
        self._uow = uow_factory
        self._egress = egress
        self._digest = secret_digest
        self._sealer = sealer
        self._clock = clock
        self._audit = audit
        self.catalog = catalog
        self._workflows = workflows
        self._alarms = alarms
        self._on_authz_change = on_authz_change
        self._changes = changes

    # --- reading ---

    def pack(self, name: str) -> Pack:
        pack = self.catalog.get(name)
        if pack is None:
            raise NotFound(f"pack {name!r} not found")
        return pack

    async def installed(self, tenant: Tenant) -> list[dict[str, Any]]:
        async with self._uow() as uow:
            installed = {i.pack: i for i in await uow.packs.installations(tenant.id)}
        names = sorted(set(self.catalog) | set(installed))
        return [self._view(self.catalog.get(n), installed.get(n), n) for n in names]

    async def get(self, tenant: Tenant, name: str) -> dict[str, Any]:
        async with self._uow() as uow:
            found = await uow.packs.installation(tenant.id, name)
        if name not in self.catalog and found is None:
            raise NotFound(f"pack {name!r} not found")
        view = self._view(self.catalog.get(name), found, name)
        if name in self.catalog:
            view["parameters_schema"] = self.catalog[name].parameters
        return view

    async def installation(self, tenant_id: str, name: str) -> Installation | None:
        async with self._uow() as uow:
            return await uow.packs.installation(tenant_id, name)

    async def reveal(self, tenant_id: str, name: str, parameter: str) -> Any:
        """The clear value of a write-only parameter, for the activity that must use it
        (a notifier's webhook secrets and SMTP passwords); None when it is not set.
        Raises SealBroken when it cannot be decrypted with this hub's secret key."""
        found = await self.installation(tenant_id, name)
        value = found.parameters.get(parameter) if found is not None else None
        if is_sealed(value):
            return self._sealer.unseal(value, sealing_context(tenant_id, name, parameter))
        return value  # None, or a value kept in clear before sealing (read as it is)

    def _view(self, pack: Pack | None, found: Installation | None, name: str) -> dict[str, Any]:
        installed = found is not None and found.status == "installed"
        view: dict[str, Any] = {
            "name": name,
            "description": pack.description if pack else "",
            "available_version": pack.version if pack else None,
            "installed_version": found.version if installed and found else None,
            "status": found.status if found else "available",
            "upgradable": bool(
                installed and pack and found and version_greater(pack.version, found.version)
            ),
        }
        if found is not None:
            secret = (pack.secret_parameters | pack.hashed_parameters) if pack else frozenset()
            view["parameters"] = redact(found.parameters, secret)
            view["resources"] = found.resources
            view["updated_at"] = found.updated_at
            view["updated_by"] = found.updated_by
        return view

    # --- changing ---

    async def install(
        self, tenant: Tenant, name: str, params: Any, ctx: RequestContext
    ) -> dict[str, Any]:
        pack = self.pack(name)
        await self._check_egress(tenant, pack, pack.defaults(), params)
        async with self._uow(write=True) as uow:
            found = await uow.packs.installation(tenant.id, name)
            if found is not None and found.status == "installed":
                raise Conflict(f"pack {name!r} is installed (version {found.version}); upgrade it")
            plan = await self._plan(uow, tenant, pack, params, previous=None)
            item = await self._apply(uow, tenant, pack, plan, found, ctx)
            await self._record(uow, tenant, ctx, "pack.install", item)
            await uow.commit()
        await self._after_commit(plan.alarms)
        return await self.get(tenant, name)

    async def upgrade(
        self, tenant: Tenant, name: str, params: Any, ctx: RequestContext
    ) -> dict[str, Any]:
        pack = self.pack(name)
        previous = await self.installation(tenant.id, name)
        if previous is not None:  # the stored channels, opened, unless given anew
            given = params if isinstance(params, dict) else {}
            kept = {k: v for k, v in given.items() if v != REDACTED}
            opened, _ = self._opened(tenant, pack, previous.parameters, kept)
            await self._check_egress(tenant, pack, opened, kept)
        async with self._uow(write=True) as uow:
            found = await uow.packs.installation(tenant.id, name)
            if found is None or found.status != "installed":
                raise Conflict(f"pack {name!r} is not installed")
            if not version_greater(pack.version, found.version):
                raise Conflict(
                    f"pack {name!r} {found.version} is installed; no newer version is available"
                )
            plan = await self._plan(uow, tenant, pack, params, previous=found)
            old_rules = list(found.resources.get("alarm_rules", []))
            await uow.packs.delete_policies(tenant.id, name)
            item = await self._apply(uow, tenant, pack, plan, found, ctx)
            item.resources["previous_version"] = found.version
            await uow.packs.save_installation(item, new=False)
            await self._record(uow, tenant, ctx, "pack.upgrade", item, previous=found.version)
            await uow.commit()
        await self._retire_rules(tenant, old_rules, ctx)
        await self._after_commit(plan.alarms)
        return await self.get(tenant, name)

    async def uninstall(self, tenant: Tenant, name: str, ctx: RequestContext) -> dict[str, Any]:
        async with self._uow(write=True) as uow:
            found = await uow.packs.installation(tenant.id, name)
            if found is None or found.status != "installed":
                raise NotFound(f"pack {name!r} is not installed")
            found.status, found.updated_at, found.updated_by = (
                "uninstalled",
                self._clock.now(),
                ctx.actor,
            )
            await uow.packs.delete_policies(tenant.id, name)
            await uow.authz.bump()
            await uow.packs.save_installation(found, new=False)
            await self._record(uow, tenant, ctx, "pack.uninstall", found)
            await uow.commit()
        self._on_authz_change()
        await self._retire_rules(tenant, found.resources.get("alarm_rules", []), ctx)
        await self._changes.changed()
        return await self.get(tenant, name)

    async def seal_legacy(self) -> int:
        """Encrypt write-only parameters that installs made before sealing kept in clear
        (run at start; a no-op once done). Returns how many installations changed."""
        async with self._uow() as uow:
            found = [i for i in await uow.packs.installations() if self._clear_secrets(i)]
        if not found:
            return 0
        changed = 0
        async with self._uow(write=True) as uow:
            for item in await uow.packs.installations():
                clear = self._clear_secrets(item)
                if not clear:
                    continue  # another process sealed it meanwhile
                pack = self.catalog[item.pack]
                tenant_id = item.tenant_id
                item.parameters = {
                    k: self._sealer.seal(v, sealing_context(tenant_id, pack.name, k))
                    if k in clear
                    else v
                    for k, v in item.parameters.items()
                }
                await uow.packs.save_installation(item, new=False)
                event = AuditEvent(
                    "pack.parameters_sealed", "pack", item.pack, details={"parameters": clear}
                )
                await self._audit.record(uow, [tenant_id], SYSTEM, event)
                changed += 1
            await uow.commit()
        return changed

    def _clear_secrets(self, item: Installation) -> list[str]:
        pack = self.catalog.get(item.pack)
        if pack is None:
            return []
        return sorted(
            k
            for k in pack.sealed_parameters
            if item.parameters.get(k) is not None and not is_sealed(item.parameters[k])
        )

    # --- the parts of an install ---

    async def _check_egress(
        self, tenant: Tenant, pack: Pack, base: dict[str, Any], params: Any
    ) -> None:
        """422 naming each channel whose destination the egress policy refuses. Checked
        before the install's transaction: it may wait on DNS."""
        if self._egress is None or not isinstance(params, dict | None):
            return
        merged = {**base, **(params or {})}
        problems: list[FieldProblem] = []
        for name in pack.channels:
            channels = merged.get(name)
            for index, channel in enumerate(channels if isinstance(channels, list) else []):
                target = channel_target(channel) if isinstance(channel, dict) else None
                if target is None:
                    continue  # not a channel: the schema check names it
                reason = await self._egress.refusal(tenant.id, target.host, target.port)
                if reason is not None:
                    where = f"parameters.{name}[{index}].{target.field}"
                    problems.append(FieldProblem(where, reason))
        if problems:
            raise ValidationFailed(problems)

    async def _plan(
        self,
        uow: UnitOfWork,
        tenant: Tenant,
        pack: Pack,
        params: Any,
        previous: Installation | None,
    ) -> _Plan:
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ValidationFailed([FieldProblem("parameters", "must be an object")])
        if previous is not None:  # "***" (what an answer shows) means: keep the stored one
            params = {
                k: v
                for k, v in params.items()
                if not (k in pack.secret_parameters and v == REDACTED)
            }
        base, problems = (
            self._opened(tenant, pack, previous.parameters, params)
            if previous is not None
            else (pack.defaults(), [])
        )
        merged = {**copy.deepcopy(base), **params}
        problems += parameter_problems(pack.parameters, merged, pack.secret_parameters)
        if not problems:
            problems = await self._device_problems(uow, tenant, pack, merged)
        alarms: list[Alarm] = []
        if not problems:
            alarms, problems = await self._rules(uow, tenant, pack, _public(pack, merged))
        if problems:
            raise ValidationFailed(problems)
        generated = await self._generate(pack, merged)
        for key in pack.hashed_parameters & set(params):
            merged[key] = self._digest(str(params[key]))
        return _Plan(self._sealed(tenant, pack, merged), alarms, generated)

    async def _generate(self, pack: Pack, params: dict[str, Any]) -> list[dict[str, Any]]:
        """The workflows the pack's generators make from the checked parameters (never
        a write-only or hashed one); 422 naming the parameters when one cannot."""
        hidden = pack.secret_parameters | pack.hashed_parameters
        given = {k: v for k, v in params.items() if k not in hidden}
        names = {str(w.get("name")) for w in pack.workflows}
        made: list[dict[str, Any]] = []
        for generator in pack.generators:
            body = await generate(generator, given)
            name = body.get("name")
            if not isinstance(name, str) or name in names:
                message = f"the workflow generator {generator.name} named its workflow {name!r}"
                raise ValidationFailed([FieldProblem("parameters", message)])
            names.add(name)
            made.append(body)
        return made

    def _opened(
        self, tenant: Tenant, pack: Pack, stored: dict[str, Any], given: dict[str, Any]
    ) -> tuple[dict[str, Any], list[FieldProblem]]:
        """The stored parameters with the sealed ones decrypted (to check and seal again)."""
        opened, problems = dict(stored), []
        for key, value in stored.items():
            if not is_sealed(value) or key in given:
                continue
            try:
                opened[key] = self._sealer.unseal(value, sealing_context(tenant.id, pack.name, key))
            except SealBroken as exc:
                del opened[key]
                problems.append(FieldProblem(f"parameters.{key}", f"{exc}; give it again"))
        return opened, problems

    def _sealed(self, tenant: Tenant, pack: Pack, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters as stored: each write-only one (unless hashed) encrypted."""
        return {
            k: (
                self._sealer.seal(v, sealing_context(tenant.id, pack.name, k))
                if k in pack.sealed_parameters and v is not None
                else v
            )
            for k, v in params.items()
        }

    async def _device_problems(
        self, uow: UnitOfWork, tenant: Tenant, pack: Pack, params: dict[str, Any]
    ) -> list[FieldProblem]:
        """Each device reference names a device of the tenant, by id or by name (the API
        hands out both); it is kept as the device's name, which the pack's rules, events
        and activities use. Each tag exists, and is writable where the pack writes it."""
        problems: list[FieldProblem] = []
        for ref in pack.device_tags:
            for index, item in enumerate(params.get(ref.parameter) or []):
                where = f"parameters.{ref.parameter}[{index}]"
                uses = _tag_uses(ref, item, where)
                if uses is None:
                    continue
                device = await _device(uow, tenant.id, str(item["device"]))
                if device is None:
                    problems.append(
                        FieldProblem(f"{where}.device", f"no device {item['device']!r}")
                    )
                    continue
                item["device"] = device.name
                for name, named_at, values in uses:
                    tag = device.tag(name)
                    if tag is None:
                        message = f"not a tag of device {device.name!r}"
                        problems.append(FieldProblem(named_at, message))
                    elif ref.writable and not tag.writable:
                        message = f"tag {tag.name!r} is not writable"
                        problems.append(FieldProblem(named_at, message))
                    else:
                        for key, value in values.items():
                            if problem := tag.value_problem(value):
                                problems.append(FieldProblem(key, problem))
        return problems

    async def _rules(
        self, uow: UnitOfWork, tenant: Tenant, pack: Pack, params: dict[str, Any]
    ) -> tuple[list[Alarm], list[FieldProblem]]:
        alarms: list[Alarm] = []
        problems: list[FieldProblem] = []
        for template in pack.alarm_rules:
            try:
                rules = expand_rules(template, params)
            except SubstitutionError as exc:
                problems.append(FieldProblem("parameters", str(exc)))
                continue
            for index, raw in enumerate(rules):
                where = (
                    f"parameters.{template.for_each}[{index}]"
                    if template.for_each
                    else "parameters"
                )
                device = await _device(uow, tenant.id, str(raw.get("device")))
                if device is None:
                    problems.append(FieldProblem(f"{where}.device", "no such device"))
                    continue
                try:
                    alarms.append(self._alarms.prepare_rule(tenant, raw, device))
                except ValidationFailed as exc:
                    problems += [
                        FieldProblem(f"{where}.{p.field}", p.message) for p in exc.problems
                    ]
        return alarms, problems

    async def _apply(
        self,
        uow: UnitOfWork,
        tenant: Tenant,
        pack: Pack,
        plan: _Plan,
        found: Installation | None,
        ctx: RequestContext,
    ) -> Installation:
        owned = set((found.resources.get("workflows") or {}) if found else {})
        variables = {
            k: v
            for k, v in plan.params.items()
            if k not in pack.secret_parameters | pack.hashed_parameters
        }
        variables["pack"] = pack.name
        public = _public(pack, plan.params)
        workflows: dict[str, str] = {}
        sources = [(w, False) for w in pack.workflows] + [(w, True) for w in plan.generated]
        for source, generated in sources:
            try:  # a generated workflow is data made from the parameters: used as it is
                body = copy.deepcopy(source) if generated else Substitution(public).apply(source)
            except SubstitutionError as exc:
                raise ValidationFailed([FieldProblem("parameters", str(exc))]) from None
            name = str(body.get("name"))
            versions = await uow.workflows.definition_versions(tenant.id, name)
            if versions and name not in owned:
                raise Conflict(f"the tenant has a workflow {name!r} that this pack did not make")
            body["version"] = _next_version(pack.version, versions)
            body["vars"] = variables
            try:
                await self._workflows.publish_in(uow, tenant, body, ctx)
            except ValidationFailed as exc:
                if generated:  # made from the parameters: named on those at fault
                    raise blame(body, exc) from None
                # the pack's own workflow: not the caller's fault
                raise HubError(f"pack {pack.name!r} workflow {name!r}: {exc.detail}") from None
            workflows[name] = body["version"]
        for alarm in plan.alarms:
            await self._alarms.add_rule_in(uow, tenant, alarm, ctx)
        await uow.packs.add_policies(tenant.id, pack.name, pack.policies)
        await uow.authz.bump()
        now = self._clock.now()
        item = Installation(
            tenant_id=tenant.id,
            pack=pack.name,
            version=pack.version,
            status="installed",
            parameters=plan.params,
            resources={
                "workflows": workflows,
                "alarm_rules": [a.id for a in plan.alarms],
                "policies": len(pack.policies),
            },
            installed_at=found.installed_at if found else now,
            updated_at=now,
            updated_by=ctx.actor,
        )
        if found is None or found.status != "installed":
            await uow.packs.save_installation(item, new=found is None)
        return item

    async def _record(
        self,
        uow: UnitOfWork,
        tenant: Tenant,
        ctx: RequestContext,
        action: str,
        item: Installation,
        **extra: Any,
    ) -> None:
        details = {"version": item.version, **item.resources, **extra}
        await self._audit.record(
            uow, [tenant.id], ctx, AuditEvent(action, "pack", item.pack, details=details)
        )

    async def _after_commit(self, alarms: list[Alarm]) -> None:
        for alarm in alarms:
            self._alarms.adopt(alarm)
        self._on_authz_change()
        await self._changes.changed()

    async def _retire_rules(self, tenant: Tenant, rule_ids: list[str], ctx: RequestContext) -> None:
        """Out of service, not deleted: the alarm and its journal stay as history."""
        for rule_id in rule_ids:
            try:
                await self._alarms.update_rule(tenant, rule_id, {"in_service": False}, None, ctx)
            except NotFound:
                continue  # removed by hand meanwhile


def _public(pack: Pack, params: dict[str, Any]) -> dict[str, Any]:
    """What templates may substitute: never a write-only value, sealed or clear."""
    return {k: v for k, v in params.items() if k not in pack.sealed_parameters}


def _next_version(pack_version: str, published: list[str]) -> str:
    """The pack's version, unless the tenant already has that one or a newer one (a
    re-install after an uninstall): then the next patch after the newest."""
    if not published or version_greater(pack_version, published[-1]):
        return pack_version
    newest = parse_version(published[-1])
    return f"{newest.major}.{newest.minor}.{newest.patch + 1}"


def _tag_uses(
    ref: DeviceTagRef, item: Any, where: str
) -> list[tuple[str, str, dict[str, Any]]] | None:
    """The tags an item of a device-tag parameter names: (tag, where it is named, values
    to check against the tag by where they are); None when the item names no device to
    check (optional references skip an item without a device or a tag)."""
    if not isinstance(item, dict) or (ref.optional and "device" not in item):
        return None
    if ref.tags is not None:
        tags = item.get(ref.tags)
        return [
            (str(name), f"{where}.{ref.tags}.{name}", {f"{where}.{ref.tags}.{name}": value})
            for name, value in (tags.items() if isinstance(tags, dict) else [])
        ]
    if ref.tag not in item:
        return None if ref.optional else [("", f"{where}.{ref.tag}", {})]
    values = {f"{where}.{k}": item[k] for k in ("value", "release") if k in item}
    return [(str(item[ref.tag]), f"{where}.{ref.tag}", values)]


async def _device(uow: UnitOfWork, tenant_id: str, ref: str) -> Device | None:
    """A device of the tenant by id or by name."""
    found = await uow.plc.get_device(tenant_id, ref) if is_id(ref) else None
    return found if found is not None else await uow.plc.device_by_name(tenant_id, ref)
