"""The tools above the service: the ``ledger`` command line and the demo city.

Nothing below imports this package; it may import the API, the scanners, the
ledger and ``ledger.storage``'s public names, never SQLAlchemy itself.
"""
