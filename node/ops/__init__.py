"""Operating a node over years: backups and restores, the key export for the county's safe."""
