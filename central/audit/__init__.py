"""Central's audit trail (审计日志, R-SEC-2): every back-office request recorded in an append-only hash chain, its
search page and the chain check. Depends only on central's root modules (the database and `AuditEntry` in
`central.models`)."""
