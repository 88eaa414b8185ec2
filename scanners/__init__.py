"""The driver's side of the ledger: labels, scans, the offline outbox and its sync.

    payload   label URL, Ed25519 label signature, ``parse_scan`` for every scan
    labels    SVG / PNG labels and A4 PDF sheets (QR level H)
    decode    QR texts from photos and camera frames
    outbox    the durable SQLite outbox on the device
    sync      sending the outbox to ``POST /v1/events/batch``
    cli       ``ledger scan``: add, list, sync, fix, drop, decode
    errors    the scanner branches of the ledger's error tree

Nothing is imported here, so a server using only ``payload`` loads no imaging libraries.
"""
