"""GS1 EPCIS 2.0 / CBV 2.0: the mapping of the ledger's events (``mapping``), the event hash ID
(``hashid``) and the export of documents and query pages (``export``). docs/epcis.md has the rules."""
