"""The node's keys and what they protect: its identity and key files, passphrase sealing, data at rest."""
