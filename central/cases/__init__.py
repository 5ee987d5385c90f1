"""Cases at central (办件): the event store, the projections rebuilt from it (cases, ratings, complaints), the
bulk apply of a node's pushed events, the case queries, and `record_central_event`, the one way central authors
an event (a decision, a routing step, a parcel receipt, an archive confirmation) and sends it down to the node.

Depends only on central's root modules (models, clock, keys, the down log); every other folder builds on it."""
