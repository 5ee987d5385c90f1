"""What both deployables share that is more than wire vocabulary: the web chrome and the document engine.

- `common.documents` — the one PDF engine for official documents (the node's notices, central's result
  documents): document model, layout with the 禁则 line breaking, embedded CJK fonts, and the worker process
  that keeps rendering off the event loop.
- `common.web` — the pieces of a Litestar app both apps would otherwise copy: problem responses, the login
  guard's `current_user`, the audit trail's middleware, pages and JSON API, the base page layout, the login and
  audit templates, and the stylesheet.
- `common.audit` — the audit trail's table columns and its append/search/verify over either app's database.

Layering (enforced by tests/test_layering.py): `common` imports `protocol` and third-party libraries, never
`node`, `central` or `provisioning`; `node` and `central` may import it.
"""
