"""What central's handlers and background jobs share while it runs (`Central`): its settings, the county's keys,
the database, the newest catalogue, and the county directory's stamp, re-read without a restart when provisioning
changes it (a key rotation, a node added or revoked)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from central.db import CentralDatabase
from central.keys import CountyKeys, load_county
from central.registry import import_registry, registry_stamp
from central.settings import CentralSettings
from protocol.catalogue import Catalogue


@dataclass
class Central:
    """What central's handlers share."""

    settings: CentralSettings
    county: CountyKeys
    db: CentralDatabase
    catalogue: Catalogue
    registry_stamp: tuple[int, ...] = ()
    registry_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Nodes refused for their protocol version since start (node id → `central.sync.versions.ProtocolRefusal`).
    protocol_refusals: dict[str, Any] = field(default_factory=dict)

    async def refresh_registry(self) -> bool:
        """Take in what provisioning wrote to the county directory since last looked (a key rotation, a node
        added or revoked), without a restart; True when something changed. Three stats when nothing did."""
        if registry_stamp(self.settings.county_dir) == self.registry_stamp:
            return False
        async with self.registry_lock:
            stamp = registry_stamp(self.settings.county_dir)
            if stamp == self.registry_stamp:
                return False
            self.county = load_county(self.settings.county_dir)
            async with self.db.transaction() as session:
                await import_registry(session, self.settings.county_dir)
            self.registry_stamp = stamp
        return True
