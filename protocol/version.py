"""Protocol version and its dated history: what changed on the wire between node, central and provisioning."""

PROTOCOL_VERSION = 1

#: (version, date, change). Append only; a node and central refuse entries from a version they do not know.
HISTORY: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "2026-11-22",
        "First version: age v1 (X25519) entry ciphertext, Ed25519 entry and receipt signatures, "
        "SHA-256 hash chain over canonical JSON headers, UUIDv7 event ids, 64-bit hybrid logical clocks.",
    ),
)
