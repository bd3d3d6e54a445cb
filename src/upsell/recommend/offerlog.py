"""The offer log: which offers were presented, accepted and declined, when, to whom, where.

Backends: in memory (:class:`MemoryOfferLog`), SQLite through the standard
library (:class:`SQLiteOfferLog`: a real database file in WAL mode, safe for
several processes), and any DB-API 2.0 connection (:class:`SQLOfferLog`) for a
shop's own database. Frequency caps read it, and
:func:`upsell.kpi.conversion` reads :meth:`OfferLog.to_offer_table`.

Ids are stored as text: item and customer ids come back as strings. Times are
seconds since 1970-01-01 UTC (double precision).

Every presented offer also records what off-policy evaluation and learning need:
the request it belongs to (``request_id``), its slot (``position``), the policy
that made the list (``policy``, "name@version"), the probability that this policy
shows the item in that slot (``propensity``), whether exploration filled the slot
(``explored``), the request's segment and the recommender's own P(accept)
(``probability``). Accepted and declined events copy them from the presented
row. Logs written before these columns existed are migrated when opened
(:data:`MIGRATION`); their old rows hold NULL.
"""

from upsell.recommend._offerlog_base import (
    EVENTS,
    MIGRATION,
    OUTCOME_COLUMNS,
    SCHEMA,
    TIME_RANGE,
    MemoryOfferLog,
    OfferEvent,
    OfferLog,
)
from upsell.recommend._offerlog_sql import SQLiteOfferLog, SQLOfferLog

__all__ = ["EVENTS", "MIGRATION", "OUTCOME_COLUMNS", "SCHEMA", "TIME_RANGE", "MemoryOfferLog",
           "OfferEvent", "OfferLog", "SQLOfferLog", "SQLiteOfferLog"]
