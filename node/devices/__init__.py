"""Device capture (ID card reader, scanner hot folder, evaluator, printer). Built out in a later issue."""
