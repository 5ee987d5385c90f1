"""County provisioning: keys, node enrolment bundles, the demo."""
