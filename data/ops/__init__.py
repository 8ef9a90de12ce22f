"""Live operations in SQL: users and sessions, incidents, patrol visits, station status, events, audit.

The API routers stay thin and call into these modules; each write runs in one transaction that also writes
its ``event`` row, NOTIFYs the live stream and appends to ``audit_log``.
"""
