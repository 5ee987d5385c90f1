"""Electronic archiving (电子归档) on the node: a closed case becomes a signed BagIt package, checked for the four
properties (四性检测), sent to the county as an attachment, and purged locally only once the county confirms it."""
