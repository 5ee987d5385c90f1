"""The edge node of a township or village service centre: intake, sync, devices, archive and the tablet UI."""
