"""Electronic archives at the county (电子档案): packages received from the centres, checked again at receipt
(移交接收检测) and confirmed to the node that sent them, with their register pages.

Depends on `central.cases` (the confirmation is a central case event); `central.sync` hands it every
attachment that arrives whole, so it sits below `sync`."""
