"""Central's side of the node links (同步): ingest of up entries with signed receipts, reconciliation of log heads,
serving the down log, attachments over tus 1.0 (and their blob store), courier files, and the sync API.

Depends on `central.cases` (applying events) and `central.archive` (an arrived archive package is checked); it
reads and restores the down log (`central.downlog`) that every author at central writes."""
