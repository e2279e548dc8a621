"""The FIX adapter (FIX 4.4, and 4.2 for older counterparties), over simplefix.

So far the session layer: :mod:`.config` (``FixSessionConfig``), :mod:`.store` (sequence
numbers and sent messages, persisted), :mod:`.wire` (encoding and the pure session rules),
:mod:`.protocol` (the sequence and admin-message logic of one connection) and :mod:`.session`
(``FixSession``: asyncio connection, timers, reconnection). Import those modules directly;
this package imports nothing, so loading it stays cheap.
"""
