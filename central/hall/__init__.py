"""The service hall as the county sees it (大厅): applicants' ratings (好差评) and complaints from the centres, and
the county hall's logistics desk (县级物料流转窗口) that signs for the parcels the centres send, with their pages.

Depends on `central.cases` (a parcel receipt is a central case event sent down to its centre)."""
