"""Route handlers parsed once per process.

Litestar shallow-copies each module-level handler when an app registers it, and parses the copy's signature
(type hints, parameters) for every app it builds. A process that builds many apps from the same handlers — the
test suite builds hundreds — pays that parse each time. Parsed on the module-level original first, the parse
travels with every copy. It depends only on the function and on the signature namespaces of the layers above
it, and neither app sets one (`Litestar(signature_namespace=…)` is never passed)."""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.handlers import BaseRouteHandler


def parse_handlers_once(config: AppConfig) -> AppConfig:
    """An ``on_app_init`` hook: parse each route handler's signature on the original (Litestar memoizes it)."""
    for handler in config.route_handlers:
        if isinstance(handler, BaseRouteHandler):
            handler.parsed_fn_signature  # noqa: B018 — the property parses and memoizes
    return config
