"""The county's administration at central (县级管理): back-office accounts and their logins, the guard on every
page, node staff accounts (sent down to their node), the fleet of nodes with revocation, and the review of
entries held back from a revoked node (quarantine), with their pages.

Depends on `central.cases` and `central.sync` (releasing a held entry applies it like an arrival; the fleet counts
a node's attachments) and `central.catalogue` (a lead's 即办件 authorities); the keys and the node registry it
administers are root modules (`central.keys`, `central.registry`) because every folder reads them."""
