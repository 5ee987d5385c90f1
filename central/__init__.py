"""The county's central server: ingest from nodes, back office, fleet, supervision, and its web pages."""
