"""Web chrome both Litestar apps share: problem responses, the logged-in user, the audit trail's pages and
middleware, the page layout, login and audit templates, and the stylesheet (see `common`)."""

from __future__ import annotations

from pathlib import Path

#: Jinja templates both apps load, named ``common/…`` (e.g. ``common/layout.html``) so an app's own
#: templates never shadow them.
TEMPLATES = Path(__file__).parent / "templates"
#: Static files both apps serve under ``/static`` (the stylesheet and HTMX), beside the app's own.
STATIC = Path(__file__).parent / "static"
