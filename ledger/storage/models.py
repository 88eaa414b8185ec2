"""The database schema, as SQLAlchemy tables. Migrations create it; nothing calls ``create_all``.

Events are append-only (database triggers refuse UPDATE and DELETE) and an
event's primary key *is* its 0-based position in the Merkle log: positions are
assigned under the log lock in the appending transaction, so they are
contiguous even when transactions roll back or writers race.

Times are stored as the ledger's canonical text (``YYYY-MM-DDTHH:MM:SS.ffffffZ``),
which sorts chronologically and is exactly what the event hash covers.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Sequence,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TIME = String(27)

parties = Table(
    "parties",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("region", String(6), nullable=False, index=True),
    Column("licence_number", String(64)),
    Column("licence_valid_until", Date),
    Column("parent", String(64), ForeignKey("parties.id")),
    Column("created_at", TIME, nullable=False),
    # the peer (LEDGER_PEERS) of the city a party is homed in, when that is another city (migration 0017)
    Column("home", String(64)),
)

people = Table(
    "people",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("party", String(64), ForeignKey("parties.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("certificate_number", String(64)),
    Column("certificate_valid_until", Date),
    Column("created_at", TIME, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", LargeBinary(32), nullable=False, unique=True),
    Column("role", String(32), nullable=False),
    Column("party", String(64), ForeignKey("parties.id")),
    Column("name", String(200), nullable=False),
    Column("created_at", TIME, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

# Sign-ins to the web pages: the cookie holds a random id, stored here only as its SHA-256.
page_sessions = Table(
    "page_sessions",
    metadata,
    Column("id_hash", LargeBinary(32), primary_key=True),
    Column("account", Integer, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("created_at", TIME, nullable=False),
    Column("last_seen", TIME, nullable=False),
    Column("revoked_at", TIME),
)

# Personal data of end users lives here only; events carry the opaque ``ref``. Name, phone and
# address are ``sealed`` (ledger.sealing); the plaintext columns hold only rows from before revision
# 0015 until `ledger init` seals them.
end_users = Table(
    "end_users",
    metadata,
    Column("ref", String(64), primary_key=True),
    Column("shop", String(64), ForeignKey("parties.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("name", String(200)),
    Column("phone", String(32)),
    Column("address", String(400)),
    Column("created_at", TIME, nullable=False),
    Column("sealed", LargeBinary),
    Column("phone_hash", LargeBinary(32), index=True),
    Column("key_version", Integer),
)

# Every full view of an end user's personal data: who, whose, when, why. Append-only.
personal_data_views = Table(
    "personal_data_views",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ref", String(64), nullable=False, index=True),
    Column("account", Integer, nullable=False),
    Column("account_name", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("party", String(64)),
    Column("reason", Text, nullable=False),
    Column("viewed_at", TIME, nullable=False),
)

# One-time codes an end user asks for to read their own history; kept only as keyed hashes.
end_user_codes = Table(
    "end_user_codes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("phone_hash", LargeBinary(32), nullable=False, index=True),
    Column("code_hash", LargeBinary(32), nullable=False),
    Column("created_at", TIME, nullable=False),
    Column("expires_at", TIME, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("used_at", TIME),
)

# Requests counted per fixed window, for rate limits (``bucket``: what is limited, and for whom).
rate_windows = Table(
    "rate_windows",
    metadata,
    Column("bucket", String(96), primary_key=True),
    Column("window", BigInteger, primary_key=True, autoincrement=False),
    Column("count", Integer, nullable=False),
)

# Registration facts plus a projection of the chain that rules and risk lists read.
cylinders = Table(
    "cylinders",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("owner", String(64), ForeignKey("parties.id"), nullable=False, index=True),
    Column("serial", String(64), nullable=False),
    Column("manufacturer", String(200), nullable=False),
    Column("model", String(32), nullable=False),
    Column("manufactured_on", Date, nullable=False),
    Column("tare_kg", Float, nullable=False),
    Column("design_life_years", Integer, nullable=False),
    Column("registered_at", TIME, nullable=False),
    Column("region", String(6), nullable=False, index=True),
    # projection, rewritten after each append
    Column("next_inspection_due", Date, nullable=False, index=True),
    Column("holder", String(64), index=True),
    Column("state", String(32), nullable=False),
    Column("state_since", TIME, nullable=False),
    Column("last_event_at", TIME, nullable=False, index=True),
    Column("last_fill_kg", Float),
    Column("life_ends_on", Date, index=True),
    Column("chain_length", Integer, nullable=False),
    # what the rules carry forward from the chain_length events they judged (rules.judge), as JSON
    Column("judged", Text),
    # ledger.stamp.stamp_key(manufacturer, serial): one physical cylinder, one row (migration 0004)
    Column("stamp_key", String(64), nullable=False),
    UniqueConstraint("manufacturer", "serial"),
)

events = Table(
    "events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("cylinder", String(16), ForeignKey("cylinders.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("occurred_at", TIME, nullable=False),
    Column("recorded_at", TIME, nullable=False),
    Column("party", String(64), nullable=False, index=True),
    Column("person", String(64)),
    Column("to_ref", String(64)),
    Column("location", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("idempotency_key", String(128), nullable=False, unique=True),
    Column("prev_hash", LargeBinary(32)),
    Column("hash", LargeBinary(32), nullable=False),
    UniqueConstraint("cylinder", "seq"),
)

# Events of other cities' logs that a cylinder's chain here links to, each verified against its log's
# signed checkpoint before it was stored (docs/regions.md). Never part of this ledger's log.
foreign_events = Table(
    "foreign_events",
    metadata,
    Column("cylinder", String(16), ForeignKey("cylinders.id"), nullable=False, primary_key=True),
    Column("seq", Integer, nullable=False, primary_key=True),
    Column("log", String(200), nullable=False),  # the origin of the log that holds the event
    Column("log_index", BigInteger, nullable=False),  # its position in that log
    Column("kind", String(16), nullable=False),
    Column("occurred_at", TIME, nullable=False),
    Column("recorded_at", TIME, nullable=False),
    Column("party", String(64), nullable=False),
    Column("person", String(64)),
    Column("to_ref", String(64)),
    Column("location", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("idempotency_key", String(128), nullable=False),
    Column("prev_hash", LargeBinary(32)),
    Column("hash", LargeBinary(32), nullable=False),
    Column("checkpoint", Text, nullable=False),  # the signed checkpoint it was verified against
    Column("stored_at", TIME, nullable=False),
)

# The inclusion proofs of another city's bundle, kept beside its events: one row per verification, the
# checkpoint it was verified against and each event's audit path under it, by seq (a JSON object
# ``{"<seq>": {"log_index", "audit_path"}}``); what the city's own bundle of the cylinder carries.
foreign_proofs = Table(
    "foreign_proofs",
    metadata,
    Column("cylinder", String(16), ForeignKey("cylinders.id"), nullable=False, primary_key=True),
    Column("log", String(200), nullable=False, primary_key=True),
    Column("tree_size", BigInteger, nullable=False, primary_key=True),
    Column("checkpoint", Text, nullable=False),
    Column("proofs", Text, nullable=False),
    Column("stored_at", TIME, nullable=False),
)

# PostgreSQL draws an event's pending id from here (-nextval) until the sequencer gives it its log
# position (ledger.storage.events.sequence, migration 0019); SQLite has no sequences and needs none.
events_pending = Sequence("events_pending", metadata=metadata)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("signed_at", TIME, nullable=False),
)

findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("kind", String(40), nullable=False, index=True),
    Column("severity", String(16), nullable=False),
    Column("cylinder", String(16), index=True),
    Column("party", String(64), index=True),
    Column("region", String(6), index=True),
    Column("events", Text, nullable=False),
    Column("note", Text, nullable=False),
    Column("evidence", Text),  # JSON {"code": ..., parameters}: the note as data (migration 0012)
    Column("detected_at", TIME, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("assignee", String(200)),
    Column("resolved_by", BigInteger),
    Column("updated_at", TIME, nullable=False),
    Column("due_at", TIME),  # the deadline the last dispatch set (ledger.cases)
    Column("escalated_at", TIME),  # when that deadline passed unhandled and the case went to 督办
)

finding_actions = Table(
    "finding_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("finding", Integer, ForeignKey("findings.id"), nullable=False, index=True),
    Column("action", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("assignee", String(200)),
    Column("note", Text, nullable=False),
    Column("at", TIME, nullable=False),
    Column("erased_at", TIME),  # the note was erased (PIPL art. 47): note is '' since
    Column("evidence", Text),  # a system step's note as data, JSON (migration 0012)
    Column("photos", Text),  # JSON list of the SHA-256 of the photos the step brought (case_photos)
)

# Cylinders with events the custody rules have not yet looked at: a batch's events are
# evaluated by the service's reviewer a moment after they are committed (ledger.supervision).
review_queue = Table(
    "review_queue",
    metadata,
    Column("cylinder", String(16), ForeignKey("cylinders.id"), primary_key=True),
    Column("since", TIME, nullable=False),
)

# The auditor's position (ledger.audit): one row. ``size`` and ``root``: the log prefix it verified
# against a signed checkpoint; ``recheck``: where its rolling re-check of older events resumes;
# ``projections``: the cylinder id after which its rolling projection check resumes.
audits = Table(
    "audits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32)),
    Column("recheck", BigInteger, nullable=False),
    Column("projections", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("audited_at", TIME, nullable=False),
)

# The root of each complete, aligned run of AUDIT_CHUNK leaves below the audited size, as the
# auditor verified it: the log's root at any size is rebuilt from these and a partial tail.
audit_chunks = Table(
    "audit_chunks",
    metadata,
    Column("start", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("prints", LargeBinary, nullable=False),  # 4 bytes of each leaf hash, to name what changed
)

# Photos of a case's handling, outside the chain; the step's history names their SHA-256.
case_photos = Table(
    "case_photos",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("finding", Integer, ForeignKey("findings.id"), nullable=False, index=True),
    Column("sha256", String(64), nullable=False, index=True),
    Column("media_type", String(16), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("added_by", String(200), nullable=False),
    Column("created_at", TIME, nullable=False),
)

# Citizens' reports (ledger.citizen; docs/citizens.md): beside the chain, text, salt and contact erasable.
citizen_reports = Table(
    "citizen_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tracking_hash", LargeBinary(32), nullable=False, unique=True),  # SHA-256 of the tracking code
    Column("finding", Integer, ForeignKey("findings.id"), nullable=False, index=True),
    Column("category", String(32), nullable=False),
    Column("cylinder", String(16), index=True),
    Column("text", Text),
    Column("salt", LargeBinary(32)),
    Column("text_sha256", LargeBinary(32), nullable=False),  # the commitment the finding's evidence holds
    Column("contact", Text),
    Column("address_hash", LargeBinary(32), nullable=False, index=True),  # keyed: counted by the rate limits
    Column("photos", Text),  # JSON list of the SHA-256 of its photos (case_photos)
    Column("folded", Boolean, nullable=False),  # into a case an earlier report opened
    Column("created_at", TIME, nullable=False, index=True),
    Column("erased_at", TIME),
)

# Photos of a delivery's home safety check (ledger.safety), outside the chain: the deliver event's
# data names each by the SHA-256 of ``data``. Uploaded before the event that names them (POST /v1/photos).
delivery_photos = Table(
    "delivery_photos",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("media_type", String(16), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("party", String(64), nullable=False),  # the party whose account uploaded it: who may see it
    Column("added_by", String(200), nullable=False),
    Column("created_at", TIME, nullable=False),
)

# Webhooks (ledger.webhooks): the outbox is written in the transaction of the event it announces.
webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", TIME, nullable=False),
    Column("fanned_out", Boolean, nullable=False, default=False, index=True),
)

webhook_jobs = Table(
    "webhook_jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("outbox", Integer, ForeignKey("webhook_outbox.id"), nullable=False, index=True),
    Column("hook", String(64), nullable=False),
    Column("status", String(16), nullable=False, index=True),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", TIME, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", Integer, ForeignKey("webhook_jobs.id"), nullable=False, index=True),
    Column("hook", String(64), nullable=False),
    Column("event", String(32), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", TIME, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("ok", Boolean, nullable=False),
)

Index("ix_findings_assignee", findings.c.assignee)
Index("ix_findings_status_kind", findings.c.status, findings.c.kind)
Index("ux_cylinders_stamp_key", cylinders.c.stamp_key, unique=True)

# Free text kept beside the chain (ledger.notes): the chain holds only ``sha256``; ``text`` and
# ``salt`` become NULL when the note is erased, ``erased_at`` saying when.
notes = Table(
    "notes",
    metadata,
    Column("id", String(16), primary_key=True),
    # follows its event from its pending id to its log position (migration 0019)
    Column("event", BigInteger, ForeignKey("events.id", onupdate="CASCADE"), nullable=False, unique=True),
    Column("sha256", LargeBinary(32), nullable=False, unique=True),
    Column("salt", LargeBinary(32)),
    Column("text", Text),
    Column("created_at", TIME, nullable=False),
    Column("erased_at", TIME),
)

# One row per erasure of personal data (PIPL art. 47): who asked, why, when and what was erased,
# never the erased content itself.
erasures = Table(
    "erasures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target", String(64), nullable=False, index=True),
    Column("what", String(32), nullable=False),
    Column("fields", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("erased_at", TIME, nullable=False),
)

# The log a mirror's database copies (ledger mirror follow; docs/mirror.md); empty in a ledger's own database.
mirrored_log = Table(
    "mirrored_log",
    metadata,
    Column("origin", String(200), primary_key=True),
    Column("vkey", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("since", TIME, nullable=False),
)

# A witness's verified cosignature on a checkpoint (ledger.cosigning), one per size and witness.
cosignatures = Table(
    "cosignatures",
    metadata,
    Column("size", BigInteger, ForeignKey("checkpoints.size"), primary_key=True, autoincrement=False),
    Column("witness", String(100), primary_key=True),
    Column("key_name", String(200), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("line", Text, nullable=False),
    Column("received_at", TIME, nullable=False),
)
Index("ix_cosignatures_witness_size", cosignatures.c.witness, cosignatures.c.size)

# Per witness: the size it last cosigned, and the lease and back-off of submitting to it.
witness_states = Table(
    "witness_states",
    metadata,
    Column("witness", String(100), primary_key=True),
    Column("cosigned_size", BigInteger, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("retry_at", TIME),
    Column("claimed_until", TIME),
    Column("last_error", Text),
)

APPEND_ONLY = ("events", "checkpoints", "finding_actions", "erasures", "cosignatures", "personal_data_views",
               "foreign_events", "foreign_proofs")
