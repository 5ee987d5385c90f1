"""The node's audit trail (R-SEC-2, 审计日志): who did and who viewed what at this centre, append-only and
hash-chained; `models` holds the table, `service` records, searches and verifies it, `routes` the middleware that
records every request, the admin's page and the JSON API."""
