"""The audit database: every order, event, fill, position, risk decision and run, recorded.

:func:`open_database` opens SQLite (the default, in the tradeloop home) or PostgreSQL and
migrates the schema; :class:`AuditStore` records and reads back domain objects (it is the
execution layer's write-ahead :class:`~tradeloop.execution.ports.IntentJournal`);
:class:`AuditRecorder` subscribes the store to a node's message bus; :class:`TokenStore` keeps
the API tokens (their hashes only).
"""

from tradeloop.persistence.db import Database, open_database, redact_url
from tradeloop.persistence.errors import MissingIntentError, PersistenceError
from tradeloop.persistence.recorder import AuditRecorder
from tradeloop.persistence.records import (
    RiskEventRecord,
    RunRecord,
    SignalRecord,
    SystemEventRecord,
)
from tradeloop.persistence.repositories import AuditStore
from tradeloop.persistence.tokens import ApiToken, TokenStore

__all__ = [
    "ApiToken",
    "AuditRecorder",
    "AuditStore",
    "Database",
    "MissingIntentError",
    "PersistenceError",
    "RiskEventRecord",
    "RunRecord",
    "SignalRecord",
    "SystemEventRecord",
    "TokenStore",
    "open_database",
    "redact_url",
]
