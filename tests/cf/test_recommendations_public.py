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
