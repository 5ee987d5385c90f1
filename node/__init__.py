"""The edge node of a township or village service centre: intake, sync, devices, archive and the tablet UI.

Where things live (a folder holds its services, its route modules and, where it has any, its tables):

    trust/              the node's keys and what they protect: identity and key files, passphrase sealing,
                        columns encrypted at rest
    settings, db, models, runtime, blobs, staff, meta
                        the shared base: configuration, the SQLite database and its shared tables, a running
                        node's parts (NodeRuntime), encrypted blobs, staff accounts and roles, key/value notes
    events.py           the case events: store, project, record — and hand every recorded event to the sealer
    sync/               the two logs with central (sealing, receipts, applying the down log, re-chaining), the
                        attachment uploader, the sync loop, courier files, node key rotation, the sync figures
    audit/              the audit trail of staff actions and its hash chain
    intake/hall/        tickets and calling, visitor flow, ratings and complaints, the lead's hall dashboard
    intake/cases/       收件, materials, the 容缺 rule (waiver.py), the outcomes of acceptance, the legal clocks,
                        issuing, document numbers; the case pages and API
    intake/documents/   the wording of notices and the service guide, and the only door to the PDF engine
                        (rendering.py: a worker process, never the event loop)
    intake/mail/        the logistics window: parcels in, pre-review of mailed applications, parcels out and
                        courier manifests, applicant messages, their papers
    archive/            electronic archiving: packages, four-property checks, retention
    devices/            ID card reader, scanner and camera hot folder, ticket printer, evaluator, simulators
    app, web, auth_routes, boot, schema, enrolment, cli, ops/
                        the top: the Litestar app and its web plumbing, login, opening a data directory (and
                        wiring the sealer), the registry of every table, enrolment, the command line; ops/:
                        backups, restores and the key export (run beside a live node, never inside it)

Dependency order, bottom up (tests/test_layering.py holds it as NODE_LAYERS and enforces it): trust, the base,
events.py, then sync and audit side by side, then intake's hall, cases, documents and mail, then archive and
devices side by side. A module imports its own folder and the layers below, never a sibling on its layer nor
anything above. Why this order:

- events.py is below the logs because they read events back (sealing them, applying central's); it reaches the
  up log's sealer through the runtime (NodeRuntime.sealer, wired by boot.open_runtime), never by import.
- sync and intake do not import each other: intake records events, sync carries them; a page that shows both
  (the courier figures on the logistics page) asks sync's status service from its route module.
- hall is below cases: a case may start from a called ticket, and a rating reads its case through events.py.
- documents is above cases because a notice is worded from a case; mail and archive render through documents.
- Route modules and the top may import any service; only app.py imports route modules; route modules import
  no sqlmodel or sqlalchemy and run no SQL.
"""
