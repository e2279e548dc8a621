"""Execution: the engine that routes orders, the order emulator, the broker port, the live order
path and reconciliation."""

from tradeloop.execution.emulator import OrderEmulator
from tradeloop.execution.engine import ExecutionEngine
from tradeloop.execution.live import LiveOrderRouter, RateLimiter, RetryPolicy
from tradeloop.execution.ports import (
    ExecutionClient,
    IntentJournal,
    LiveExecutionClient,
    VenueCapabilities,
)
from tradeloop.execution.reconciliation import Reconciler, ReconciliationReport

__all__ = [
    "ExecutionClient",
    "ExecutionEngine",
    "IntentJournal",
    "LiveExecutionClient",
    "LiveOrderRouter",
    "OrderEmulator",
    "RateLimiter",
    "Reconciler",
    "ReconciliationReport",
    "RetryPolicy",
    "VenueCapabilities",
]
