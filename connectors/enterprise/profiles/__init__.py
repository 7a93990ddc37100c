"""The ERP operation profiles shipped with the hub (package data, issue 15 item 8).

``s4hana``: SAP S/4HANA's public OData V2 APIs; ``sample_erp``: the CAP sample ERP of
``connectors/enterprise/sample_erp``. The format is described in
``hub.domain.enterprise_profiles``; the files are read with the bounded YAML loader.
"""

from __future__ import annotations

import functools
from importlib import resources

from hub.domain.enterprise_profiles import Profile, load_profile
from hub.domain.errors import NotFound
from hub.engine.loading import load_yaml_text

MAX_PROFILE_BYTES = 256 * 1024
BUILTIN_PROFILES = ("s4hana", "sample_erp")


def builtin_profile(name: str) -> Profile:
    """A shipped profile by name; ``NotFound`` for any other name."""
    if name not in BUILTIN_PROFILES:
        raise NotFound(f"no built-in ERP profile {name!r} (one of: {', '.join(BUILTIN_PROFILES)})")
    return _load(name)


@functools.cache
def _load(name: str) -> Profile:
    # Shipped files do not change while the process runs: parse each once.
    text = resources.files(__package__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return load_profile(load_yaml_text(text, max_bytes=MAX_PROFILE_BYTES), name)
