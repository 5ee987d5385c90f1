"""Tests of node.devices: codecs, drivers over the fake pyusb backend, the device manager."""
