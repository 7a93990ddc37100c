"""Each tenant's organisation: its keys (made on first use, the private part sealed at rest
like the other secrets) and the document partners register it from."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from hub.domain.errors import Conflict
from hub.domain.tenancy import Tenant
from hub.ports import Clock, Sealer, StoredOrganisation, UnitOfWorkFactory
from hub.security.federation import OrganisationKeys, PublicOrganisationKeys

SEAL_CONTEXT = "organisation-keys:"
CAPABILITIES = ("collaboration", "approval", "data_exchange", "notification", "activity")
INBOX_PATH = "/federation/v1/organisations/{org_id}"


class Organisations:
    def __init__(
        self, uow_factory: UnitOfWorkFactory, clock: Clock, sealer: Sealer, public_url: str
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._sealer = sealer
        self.public_url = public_url
        self._keys: dict[str, OrganisationKeys] = {}  # tenant id -> keys (they never change)
        self._tenants: dict[str, str] = {}  # org id -> tenant id
        self._lock = asyncio.Lock()

    def endpoint_url(self, org_id: str) -> str:
        return self.public_url + INBOX_PATH.format(org_id=org_id)

    def domain(self, tenant: Tenant) -> str:
        return f"{tenant.slug}.{urlsplit(self.public_url).hostname or 'localhost'}"

    async def keys(self, tenant_id: str) -> OrganisationKeys:
        """The tenant's organisation keys, made (and sealed) the first time they are asked for."""
        found = self._keys.get(tenant_id)
        if found is not None:
            return found
        async with self._lock:
            async with self._uow() as uow:
                stored = await uow.collaboration.organisation(tenant_id)
            if stored is None:
                stored = await self._create(tenant_id)
            keys = OrganisationKeys.from_bytes(
                self._sealer.unseal(stored.sealed, SEAL_CONTEXT + tenant_id).encode()
            )
            self._keys[tenant_id] = keys
            self._tenants[stored.org_id] = tenant_id
            return keys

    async def _create(self, tenant_id: str) -> StoredOrganisation:
        keys = OrganisationKeys.generate()
        public = keys.public()
        sealed = self._sealer.seal(keys.to_bytes().decode(), SEAL_CONTEXT + tenant_id)
        stored = StoredOrganisation(tenant_id, public.org_id, public.as_document(), sealed)
        try:
            async with self._uow(write=True) as uow:
                await uow.collaboration.add_organisation(stored, self._clock.now())
                await uow.commit()
        except Conflict:  # another process made them first: theirs
            async with self._uow() as uow:
                again = await uow.collaboration.organisation(tenant_id)
            assert again is not None
            return again
        return stored

    async def org_id(self, tenant_id: str) -> str:
        return (await self.keys(tenant_id)).public().org_id

    async def public(self, tenant_id: str) -> PublicOrganisationKeys:
        return (await self.keys(tenant_id)).public()

    async def tenant_of(self, org_id: str) -> str | None:
        """The local tenant that is organisation `org_id`, if it lives on this hub."""
        found = self._tenants.get(org_id)
        if found is not None:
            return found
        async with self._uow() as uow:
            tenant_id = await uow.collaboration.tenant_of_org(org_id)
        if tenant_id is not None:
            self._tenants[org_id] = tenant_id
        return tenant_id

    async def document(self, tenant: Tenant) -> dict[str, Any]:
        """What a partner registers this organisation from (GET .../organisation)."""
        public = await self.public(tenant.id)
        return {
            "name": tenant.name,
            "domain": self.domain(tenant),
            "org_id": public.org_id,
            "public_key": public.public_key,
            "signing_key": public.signing_jwk,
            "encryption_key": public.encryption_jwk,
            "endpoint_url": self.endpoint_url(public.org_id),
            "capabilities": list(CAPABILITIES),
        }
