"""The county's central server (县级中心): ingest from nodes, back office, fleet, supervision, and its web pages.

Cut by domain, then by role (``service``/``routes``/``schemas`` … inside each folder). The folders form a DAG; a
module may import from its own folder, from the root base modules, and from the folders listed before its own
(`tests/test_layering.py` holds the order and checks it):

    root base    settings, db, models, clock, keys, registry, downlog, blobs, runtime, web
      audit      the audit trail (only the database)
      cases      event store, projections, bulk apply, case queries, record_central_event
      archive    packages received and checked (confirms through cases)
      sync       ingest, reconcile, down log served, tus, blobs sent down, courier (applies through cases;
                 hands every arrived attachment to archive)
      catalogue  catalogue versions and the calendar (only the down log)
      county     accounts and login, node staff, fleet, review of held entries (releases through sync)
      hall       ratings, complaints, the logistics desk (receipts through cases)
      backoffice departments, workflow, deadlines, results, consults, supervision, jobs (through cases,
                 routing by catalogue)
    root top     app (the only importer of route modules), cli, __main__

Why this order:
- The down log (`central.downlog`) is written by every author at central — case events (`cases`), staff account
  changes (`county`), catalogue versions and the calendar (`catalogue`), key statements — and read by `sync`
  (pull, reconcile, courier reply). In `sync` it would make ``cases → sync → cases`` a circle, because ingest
  applies events through `cases` while recording a central event appends to the down log; so it is a root base
  module below every folder, like the county keys (`central.keys`) that sign it and the node registry
  (`central.registry`) every page names its centres from.
- The blob store (`central.blobs`) holds what nodes upload (`sync`) and the result documents the back office
  renders and reviewers read with the materials (`backoffice`): a root base module, below both.
- `cases.record.record_central_event` is the one way central authors a case event (lock the node row → stamp
  with the one clock of `central.clock` within the drift bound → store → project → append down → check the fold);
  every folder that decides something calls it, so `cases` sits right above the root.
- `archive` is below `sync` because an arriving attachment that is an archive package is checked and confirmed
  in the transaction that records it (`sync.attachments` → `archive.service`), and the confirmation itself needs
  nothing of `sync`.
- `county` is above `sync` because releasing a held entry applies it exactly as ingest would, and the fleet page
  counts a node's attachments; `hall` and `backoffice` only need `cases` (and `backoffice` the catalogue).
- `web` (current user, role guards, problem handlers, template filters) is base: every route module uses it, and
  it imports no folder. The login and the session guard are the county's (`county.auth_routes`).
"""
