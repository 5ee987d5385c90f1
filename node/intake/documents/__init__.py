"""The documents a centre prints: the wording of a case's notices and the service guide, and the one door to the
PDF engine (`rendering.render_document`, in a worker process, never on the event loop)."""
