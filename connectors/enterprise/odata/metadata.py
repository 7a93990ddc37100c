"""$metadata (EDMX, V2 and V4) read into ServiceMetadata: entity sets with their keys and
typed properties, actions and functions.

The document comes from a server a tenant names, so it is parsed with defusedxml (no
entity expansion, no external references) and only after its size was bounded by the
client. Namespaces differ between V2 (Microsoft's) and V4 (OASIS), so elements are matched
by local name.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from hub.domain.enterprise import (
    EnterpriseError,
    EntityType,
    ODataVersion,
    Operation,
    ServiceMetadata,
)

MAX_ENTITY_SETS = 5000


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: Element, name: str) -> list[Element]:
    return [c for c in element if _local(c.tag) == name]


def _walk(element: Element, name: str) -> list[Element]:
    return [e for e in element.iter() if _local(e.tag) == name]


def _attr(element: Element, name: str) -> str | None:
    for key, value in element.attrib.items():
        if _local(key) == name:
            return value
    return None


def _short(type_name: str | None) -> str:
    """`Namespace.Type` -> `Type`; `Collection(NS.Type)` -> `Type`; Edm types unchanged."""
    if not type_name:
        return ""
    inner = type_name.removeprefix("Collection(").removesuffix(")")
    return inner if inner.startswith("Edm.") else inner.rsplit(".", 1)[-1]


def parse(document: bytes, version: ODataVersion) -> ServiceMetadata:
    try:
        root = ElementTree.fromstring(document, forbid_dtd=True)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise EnterpriseError(f"the service's $metadata is not valid EDMX: {exc}") from None
    types = {t.get("Name", ""): t for t in _walk(root, "EntityType")}
    concurrent = _optimistic_sets(root)
    sets: dict[str, EntityType] = {}
    for entity_set in _walk(root, "EntitySet"):
        name = entity_set.get("Name", "")
        type_name = _short(entity_set.get("EntityType"))
        element = types.get(type_name)
        if not name or element is None:
            continue
        sets[name] = _entity_type(element, types, name in concurrent)
        if len(sets) > MAX_ENTITY_SETS:
            raise EnterpriseError(f"the service declares more than {MAX_ENTITY_SETS} entity sets")
    return ServiceMetadata(version=version, entity_sets=sets, operations=_operations(root, version))


def _entity_type(element: Element, types: dict[str, Element], etag_set: bool) -> EntityType:
    chain = _inheritance(element, types)
    keys: list[str] = []
    properties: dict[str, str] = {}
    navigation: list[str] = []
    etag = etag_set
    for part in chain:
        for key in _children(part, "Key"):
            keys += [ref.get("Name", "") for ref in _children(key, "PropertyRef")]
        for prop in _children(part, "Property"):
            properties[prop.get("Name", "")] = prop.get("Type", "")
            etag = etag or prop.get("ConcurrencyMode") == "Fixed"
        navigation += [n.get("Name", "") for n in _children(part, "NavigationProperty")]
    return EntityType(
        name=element.get("Name", ""),
        keys=tuple(keys),
        properties=properties,
        navigation=tuple(navigation),
        etag=etag,
    )


def _inheritance(element: Element, types: dict[str, Element]) -> list[Element]:
    """The type and its base types, base first (keys are declared on the base)."""
    chain = [element]
    while (base := _short(chain[0].get("BaseType"))) and base in types and len(chain) < 16:
        chain.insert(0, types[base])
    return chain


def _optimistic_sets(root: Element) -> set[str]:
    """V4: entity sets annotated Core.OptimisticConcurrency (inline or by target)."""
    found: set[str] = set()
    for group in _walk(root, "Annotations"):
        target = group.get("Target", "")
        if any(a.get("Term", "").endswith("OptimisticConcurrency") for a in group):
            found.add(target.rsplit("/", 1)[-1])
    for entity_set in _walk(root, "EntitySet"):
        if any(
            a.get("Term", "").endswith("OptimisticConcurrency")
            for a in _children(entity_set, "Annotation")
        ):
            found.add(entity_set.get("Name", ""))
    return found


def _operations(root: Element, version: ODataVersion) -> dict[str, Operation]:
    if version == "v2":
        return {op.name: op for op in map(_v2_function_import, _walk(root, "FunctionImport"))}
    operations: dict[str, Operation] = {}
    for schema in _walk(root, "Schema"):
        namespace = schema.get("Namespace", "")
        for kind in ("action", "function"):
            for element in _children(schema, kind.capitalize()):
                op = _v4_operation(element, kind, namespace)
                operations.setdefault(op.name, op)  # overloads: the first is described
    return operations


def _v2_function_import(element: Element) -> Operation:
    method = (_attr(element, "HttpMethod") or "GET").upper()
    return Operation(
        name=element.get("Name", ""),
        kind="function" if method == "GET" else "action",
        parameters={p.get("Name", ""): p.get("Type", "") for p in _children(element, "Parameter")},
        http_method=method,
        returns=_short(element.get("ReturnType")) or None,
        # SAP's sap:action-for names the entity type a V2 function import acts on (V2 has
        # no bound operations; the key comes as parameters). Kept so the client knows it
        # changes that entity (and sends If-Match).
        bound_to=_short(_attr(element, "action-for")) or None,
    )


def _v4_operation(element: Element, kind: Any, namespace: str) -> Operation:
    params = [(p.get("Name", ""), p.get("Type", "")) for p in _children(element, "Parameter")]
    bound = element.get("IsBound") == "true"
    returns = _children(element, "ReturnType")
    return Operation(
        name=element.get("Name", ""),
        kind=kind,
        parameters=dict(params[1:] if bound else params),
        bound_to=_short(params[0][1]) if bound and params else None,
        returns=_short(returns[0].get("Type")) if returns else None,
        namespace=namespace,
    )
