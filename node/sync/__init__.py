"""Sync with the county: the up and down logs, receipts, the sync loop."""
