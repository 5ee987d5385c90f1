"""Every table of the node database in one metadata: the shared tables (`node.models`) and each domain's own
(the hall's tickets, devices, logistics, the audit trail, the issued notices). Alembic's environment and the at-rest sweep at start-up read the metadata
from here, so a new domain table module is added to this list."""

from __future__ import annotations

from sqlalchemy import MetaData

from node.audit import models as audit_models
from node.devices import models as device_models
from node.intake.documents import models as document_models
from node.intake.hall import models as hall_models
from node.intake.mail import models as mail_models
from node.models import NodeTable

#: The node database's metadata, with every table registered.
NODE_METADATA: MetaData = NodeTable.metadata
#: The modules that declare tables (imported for that effect; listed so the import is not unused).
TABLE_MODULES = (audit_models, device_models, document_models, hall_models, mail_models)
