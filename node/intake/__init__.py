"""Front-desk intake: catalogue copy, cases, materials, acceptance (一窗受理)."""
