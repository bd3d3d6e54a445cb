"""`upsell fit --blend auto|learned|weighted` and ``choose_blend``: which blend is kept, and why."""

from __future__ import annotations

import inspect
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import upsell as us
from upsell.cli import main
from upsell.datasets import make_shop
from upsell.exceptions import UpsellDataError
from upsell.recommend import BlendChoice, LearnedBlend, Recommender, choose_blend
from upsell.recommend.blend import history_parts


class StubBlend:
    """Stands in for an unfitted LearnedBlend: a fixed verdict, no LightGBM."""

    n_cuts = 8

    def __init__(self, better: bool | None, owned: float = 0.30, new: float = 0.10) -> None:
        self.better = better
        self.fits = 0
        self.params_ = {
            "owned": {"inner_recall": owned, "inner_best_source": "repeat",
                      "inner_best_source_recall": 0.25},
            "new": {"inner_recall": new, "inner_best_source": "ease",
                    "inner_best_source_recall": 0.08}}

    @property
    def measures_better_(self) -> bool | None:
        return self.better

    def fit(self, tx: Any, *, catalog: Any = None, segments: Any = None,
            random_state: int = 0) -> StubBlend:
        self.fits += 1
        return self


@pytest.fixture(scope="module")
def shop() -> Any:
    return make_shop(n_customers=250, n_items=70, n_orders=1200, random_state=2)


@pytest.fixture(scope="module")
def orders(shop: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fit_blend") / "orders.csv"
    shop.transactions.to_csv(path)
    return path


def _fit(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    code = main(["--quiet", "fit", *argv], out=buf)
    return code, buf.getvalue()


# ------------------------------------------------------------------ choose_blend
@pytest.mark.parametrize("better, kind", [(True, "learned"), (False, "weighted"),
                                          (None, "learned")])
def test_auto_keeps_the_learned_blend_only_when_it_measures_better(shop, better, kind):
    stub = StubBlend(better)
    choice = choose_blend(shop.transactions, stub, blend="auto")
    assert isinstance(choice, BlendChoice)
    assert choice.kind == kind and choice.asked == "auto" and stub.fits == 1
    assert (choice.blend is stub) == (kind == "learned")
    assert choice.reason.startswith(f"{kind} blend:")
    if better is not None:  # both inner recalls are in the one-line reason
        assert "0.3000 vs repeat 0.2500" in choice.reason
        assert "0.1000 vs ease 0.0800" in choice.reason
        assert "\n" not in choice.reason
    else:
        assert "not available" in choice.reason
    assert choice.inner_recall == {"owned": 0.30, "new": 0.10}
    assert choice.inner_best_source == {"owned": "repeat", "new": "ease"}
    frame = choice.to_pandas()
    assert frame["regime"].tolist() == ["owned", "new"]


def test_learned_and_weighted_do_as_asked(shop):
    stub = StubBlend(False)
    learned = choose_blend(shop.transactions, stub, blend="learned")
    assert learned.kind == "learned" and learned.blend is stub  # no verdict asked for
    stub = StubBlend(True)
    weighted = choose_blend(shop.transactions, stub, blend="weighted")
    assert weighted.kind == "weighted" and weighted.blend is None and stub.fits == 0
    with pytest.raises(UpsellDataError, match="`blend`"):
        choose_blend(shop.transactions, stub, blend="best")


def test_auto_falls_back_on_a_shop_too_small_to_learn_a_blend():
    tx = make_shop(n_customers=40, n_items=40, n_orders=120, random_state=0).transactions
    stub = StubBlend(True)
    choice = choose_blend(tx, stub, blend="auto")
    assert choice.kind == "weighted" and stub.fits == 0  # decided before the costly fit
    assert "too few customers ordered again" in choice.reason


def test_auto_without_customers_or_times_is_weighted_and_learned_raises():
    tx = us.Transactions.from_arrays(order=["o1", "o1", "o2", "o3"], item=["a", "b", "a", "c"])
    stub = StubBlend(True)
    choice = choose_blend(tx, stub, blend="auto")
    assert choice.kind == "weighted" and "customers and times" in choice.reason
    with pytest.raises(UpsellDataError, match="customers and times"):
        choose_blend(tx, stub, blend="learned")
    assert stub.fits == 0


def test_learned_keeps_raising_when_no_customer_orders_twice():
    n = 200  # every customer a single order: nothing to learn the next basket from
    rng = np.random.default_rng(0)
    tx = us.Transactions.from_arrays(
        order=np.repeat(np.arange(n), 2), item=rng.integers(0, 40, 2 * n),
        customer=np.repeat(np.arange(n), 2),
        time=np.repeat(np.datetime64("2024-01-01") + np.arange(n), 2))
    with pytest.raises(UpsellDataError, match="no customer ordered both before and after"):
        choose_blend(tx, LearnedBlend(), blend="learned")
    choice = choose_blend(tx, LearnedBlend(), blend="auto")
    assert choice.kind == "weighted" and "too few customers" in choice.reason
    # LearnedBlend.fit called directly says the same (it raised a scipy ValueError)
    with pytest.raises(UpsellDataError, match="no customer ordered both before and after"):
        LearnedBlend().fit(tx)


def test_auto_falls_back_when_customers_only_ever_rebuy(shop):
    # the shop's history played twice, the second time a year later by the same customers:
    # after every cut they buy only what they bought before, so the ranker of never-bought
    # items has nothing to learn from (seen on Online Retail repeated over 20 months)
    tx = shop.transactions
    year = np.timedelta64(365, "D")
    t = np.concatenate([tx.time, tx.time + year])
    n = tx.order.size
    tx2 = us.Transactions.from_arrays(
        order=np.concatenate([tx.order, tx.order + len(tx.orders)]),
        item=np.concatenate([tx.item, tx.item]), customer=np.concatenate([tx.customer] * 2),
        time=t)
    assert tx2.order.size == 2 * n
    fast = {"param_grid": [(7, 0.01)], "max_rounds": 10, "n_cuts": 3, "max_customers": 200,
            "n_candidates": 20}
    with pytest.raises(UpsellDataError, match="never bought") as err:
        choose_blend(tx2, LearnedBlend(**fast), blend="learned")
    assert "no customer bought an item new to them" in str(err.value)
    choice = choose_blend(tx2, LearnedBlend(**fast), blend="auto")
    assert choice.kind == "weighted" and choice.blend is None
    assert choice.reason.startswith("weighted blend: no customer bought an item new to them")


def test_history_parts_auto_drops_a_learned_blend_that_does_not_measure_better(shop,
                                                                               monkeypatch):
    monkeypatch.setattr(LearnedBlend, "measures_better_", property(lambda self: False),
                        raising=False)  # H1 adds it; the verdict is stubbed here
    parts = history_parts(shop.transactions, shop.catalog, blend="auto")
    assert parts["blend"] is None


def test_from_history_defaults_to_auto(shop, monkeypatch):
    from upsell.recommend import _from_history

    assert inspect.signature(Recommender.from_history).parameters["blend"].default == "auto"
    asked = []

    def spy(tx: Any, learned: Any, **kw: Any) -> BlendChoice:
        asked.append(kw["blend"])
        assert isinstance(learned, LearnedBlend)
        return BlendChoice(kind="weighted", blend=None, asked=kw["blend"], reason="stub")

    monkeypatch.setattr(_from_history, "choose_blend", spy)
    rec = Recommender.from_history(shop.transactions, shop.catalog)
    assert asked == ["auto"] and rec.blend is None


# ------------------------------------------------------------------ upsell fit
def test_fit_help_lists_auto_as_the_default(capsys):
    assert main(["fit", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--blend {auto,learned,weighted}" in text and "auto (default" in text


@pytest.mark.parametrize("better", [True, False])
def test_fit_auto_names_the_kept_blend_and_says_why(orders, tmp_path, capsys, monkeypatch,
                                                    better):
    monkeypatch.setattr(LearnedBlend, "measures_better_", property(lambda self: better),
                        raising=False)
    model = tmp_path / "model"
    code, text = _fit(str(orders), "--out", str(model), "--blend", "auto")
    err = capsys.readouterr().err
    kind = "learned" if better else "weighted"
    assert code == 0, err
    assert f"with the {kind} blend to" in text
    lines = [x for x in err.splitlines() if x.startswith("upsell: --blend auto:")]
    assert len(lines) == 1 and lines[0].startswith(f"upsell: --blend auto: {kind} blend:")
    assert "inner recall@10" in lines[0]
    assert (model / "blend").is_dir() == better
    rec = Recommender.load(model)
    assert (rec.blend is not None) == better


def test_fit_weighted_fits_no_learned_blend(orders, tmp_path, capsys, monkeypatch):
    def boom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the learned blend was fitted")

    monkeypatch.setattr(LearnedBlend, "fit", boom)
    code, text = _fit(str(orders), "--out", str(tmp_path / "m"), "--blend", "weighted")
    assert code == 0 and "with the weighted blend" in text
    assert "--blend" not in capsys.readouterr().err


def test_fit_auto_without_customers_saves_the_weighted_blend(tmp_path, capsys):
    path = tmp_path / "baskets.csv"
    rows = ["order,item"] + [f"o{i},{it}" for i in range(60) for it in ("a", "b", "c")[: 2 + i % 2]]
    path.write_text("\n".join(rows) + "\n")
    code, text = _fit(str(path), "--out", str(tmp_path / "m"), "--blend", "auto")
    err = capsys.readouterr().err
    assert code == 0 and "with the weighted blend" in text
    assert "upsell: --blend auto: weighted blend: the learned one needs order lines with " \
           "customers and times" in err
    code, _ = _fit(str(path), "--out", str(tmp_path / "m2"), "--blend", "learned")
    assert code == 2
    assert "--blend learned needs order lines with customers and times" in capsys.readouterr().err


def test_fit_explain_chooses_how_the_learned_blend_words_reasons(orders, tmp_path, capsys):
    model = tmp_path / "model"
    code, _ = _fit(str(orders), "--out", str(model), "--blend", "learned",
                      "--explain", "paths")
    assert code == 0, capsys.readouterr().err
    rec = Recommender.load(model)
    assert rec.blend is not None and rec.blend.explain == "paths"
    customer = rec.history_.customers.ids[0]
    offers = rec.recommend(customer, k=3, include_owned=True)
    assert offers and all(o.reason.summary for o in offers)
    assert main(["fit", "--help"]) == 0
    assert "--explain {contributions,paths,features,none}" in " ".join(
        capsys.readouterr().out.split())
