"""`Recommendations` is public: one class under its public and its historical names."""

import upsell
import upsell._results
import upsell.cf


def test_recommendations_is_public_and_the_old_path_still_imports() -> None:
    assert upsell.Recommendations is upsell.cf.Recommendations
    assert upsell.Recommendations is upsell._results.Recommendations
    assert "Recommendations" in upsell.__all__
    assert "Recommendations" in upsell.cf.__all__


def test_cf_models_return_the_public_class() -> None:
    import numpy as np
    import scipy.sparse as sp

    X = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]]))
    recs = upsell.cf.ItemKNN().fit(X).recommend(baskets=[[0]], k=2)
    assert isinstance(recs, upsell.Recommendations)


def test_reasons_are_optional_flat_and_aligned() -> None:
    import pytest

    from upsell import IdIndex, Recommendations
    from upsell.exceptions import UpsellValueError

    items = IdIndex(["a", "b", "c"])
    plain = Recommendations.from_lists(["x", "y"], [[2, 0], [1]], [[0.9, 0.5], [0.7]],
                                       items=items)
    assert plain.reasons is None and plain.reasons_for(0) == ("", "")
    assert plain.to_pandas().columns.tolist() == ["customer", "item", "score", "rank"]
    why = Recommendations.from_lists(["x", "y"], [[2, 0], [1]], [[0.9, 0.5], [0.7]],
                                     items=items, reasons=[["r1", "r2"], ["r3"]])
    assert why.reasons == ("r1", "r2", "r3")
    assert why.reasons_for(0) == ("r1", "r2") and why.reasons_for(1) == ("r3",)
    df = why.to_pandas()
    assert df.columns.tolist() == ["customer", "item", "score", "rank", "reason"]
    assert df["reason"].tolist() == ["r1", "r2", "r3"]
    assert "r3" in why._repr_html_()
    with pytest.raises(UpsellValueError, match="reasons"):
        Recommendations.from_lists(["x"], [[0, 1]], [[1.0, 0.5]], items=items, reasons=[["r"]])
    with pytest.raises(UpsellValueError, match="reasons"):
        Recommendations(requests=plain.requests, request_kind="customer", indptr=plain.indptr,
                        item_index=plain.item_index, scores=plain.scores, items=items,
                        reasons=("only one",))
    empty = Recommendations.from_lists([], [], [], items=items, reasons=[])
    assert len(empty) == 0 and empty.reasons == ()
