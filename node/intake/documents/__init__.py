"""The documents a centre prints: the wording of a case's notices and the service guide (`notices`). They are
laid out by the one PDF engine of both ends (`common.documents.pdf`) and rendered only in its worker process
(`common.documents.render.render_document`), never on the event loop."""
