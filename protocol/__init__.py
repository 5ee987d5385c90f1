"""Wire vocabulary shared by node, central and provisioning."""
