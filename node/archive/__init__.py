"""Electronic archiving of closed cases (BagIt packages, four-property checks). Built out in a later issue."""
