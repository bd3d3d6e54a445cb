"""Reference figures on the Online Retail data (Dec 2010 - Sep 2011), as shown in docs/segments.md."""

from __future__ import annotations

import numpy as np
import pytest

from upsell.data import Transactions
from upsell.segments import PERSONAS, RFM_SEGMENTS, Personas, rfm

pytestmark = pytest.mark.realdata

COLUMNS = {"order": "InvoiceNo", "item": "StockCode", "customer": "CustomerID",
           "quantity": "Quantity", "price": "UnitPrice", "time": "InvoiceDate"}

# docs/segments.md, at 2011-10-01 (the day after the last line)
RFM_TABLE = {  # segment: (customers, revenue share %)
    "champions": (379, 43.2), "loyal": (555, 28.7), "potential loyalist": (429, 6.9),
    "recent": (168, 1.4), "promising": (146, 1.1), "need attention": (304, 4.5),
    "about to sleep": (206, 1.5), "at risk": (464, 6.7), "cannot lose": (27, 1.0),
    "hibernating": (352, 1.9), "lost": (580, 3.0),
}
PERSONA_SIZES = {"new": 1240, "frequent": 719, "price_sensitive": 850, "premium": 801}


@pytest.fixture
def retail(online_retail_path):
    return Transactions.read_csv(online_retail_path, columns=COLUMNS, cancel_prefix="C")


def test_rfm_segment_table(retail):
    res = rfm(retail)
    assert str(res.at) == "2011-10-01T00:00:00"
    s = res.summary()
    assert s.segment.tolist() == list(RFM_SEGMENTS)
    assert int(s.customers.sum()) == len(retail.customers)
    for seg, n, share in zip(s.segment, s.customers, s.revenue_share, strict=True):
        want_n, want_share = RFM_TABLE[str(seg)]
        # small tolerance: the CSV cleaning rules may still be tuned
        assert abs(int(n) - want_n) <= max(3, 0.02 * want_n), seg
        assert abs(100 * share - want_share) <= 0.3, seg
    assert np.isclose(s.revenue_share.sum(), 1.0)


def test_persona_sizes(retail):
    s = Personas().fit(retail).predict().summary()
    assert s.segment.tolist() == list(PERSONAS)
    for seg, n in zip(s.segment, s.customers, strict=True):
        want = PERSONA_SIZES[str(seg)]
        assert abs(int(n) - want) <= max(3, 0.02 * want), seg


def test_persona_reasons_are_readable(retail):
    model = Personas().fit(retail)
    reasons = model.predict().reasons()
    assert not any("e+" in r or "nan" in r for r in reasons)
    # the discount feature means something: most lines are at the item's usual price
    share = model.predict().decisive_values
    assert np.isfinite(share).any()
    _, hi = model.thresholds_["price_sensitive"]["discount_share"]
    assert hi < 0.9
