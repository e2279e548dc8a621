"""Execution: the engine that routes orders, the order emulator, and the broker port."""

from tradeloop.execution.emulator import OrderEmulator
from tradeloop.execution.engine import ExecutionEngine
from tradeloop.execution.ports import ExecutionClient, VenueCapabilities

__all__ = ["ExecutionClient", "ExecutionEngine", "OrderEmulator", "VenueCapabilities"]
