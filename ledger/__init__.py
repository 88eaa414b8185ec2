"""cylinder-ledger: the traceability ledger for bottled LPG cylinders."""

__version__ = "0.1.0"
