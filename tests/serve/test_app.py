"""Every endpoint and every error code, in process (starlette's TestClient)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from upsell.recommend import OfferLog, Recommender

from .conftest import AT, KEY


def requests_for(shop: Any, n: int = 30) -> list[dict[str, Any]]:
    customers = shop.transactions.customers.ids.tolist()
    items = shop.catalog.items.ids.tolist()
    moments = (None, "product_page", "cart", "checkout", "post_purchase")
    out = []
    for j in range(n):
        body: dict[str, Any] = {"k": 1 + j % 6, "channel": ("web", "email", "store")[j % 3],
                                "moment": moments[j % 5], "at": AT}
        if j % 4:
            body["customer"] = str(customers[(11 * j) % len(customers)])  # ids as a web page sends them
        if j % 3:
            body["basket"] = [items[(7 * j) % len(items)]]
        if j % 7 == 0:
            body["include_owned"] = True
        out.append(body)
    body = {"customer": "no-such-customer", "basket": ["no-such-item"], "at": AT}
    return [*out, body]


def test_same_offers_as_the_library(client_factory: Any, model_dirs: Any, shop: Any) -> None:
    client = client_factory()
    rec = Recommender.load(model_dirs[0], offer_log=OfferLog.in_memory())
    for body in requests_for(shop):
        r = client.post("/v1/recommend", json=body)
        assert r.status_code == 200, r.text
        kwargs = {k: v for k, v in body.items() if k != "basket"}
        offers = rec.recommend(kwargs.pop("customer", None), basket=body.get("basket", ()),
                               **kwargs)
        want = [{"item": o.item, "name": o.name, "kind": o.kind, "score": float(o.score),
                 "reason": o.reason.summary, "cue": o.cue, "sources": list(o.sources)}
                for o in offers]
        got = r.json()
        assert got["offers"] == want
        assert got.get("note", "") == offers.note
        assert len(got["request_id"]) == 32


def test_events_are_in_the_log_when_answered(client_factory: Any, tmp_path: Path,
                                             shop: Any) -> None:
    client = client_factory()
    answer = client.post("/v1/recommend", json={"basket": [str(shop.catalog.items.ids[0])], "k": 3,
                                                "customer": str(shop.transactions.customers.ids[0])}
                         ).json()
    rid = answer["request_id"]
    events = [{"type": "presented", "request_id": rid, "item": o["item"], "customer": "c1",
               "kind": o["kind"], "source": o["sources"], "time": "2025-01-10T12:00:00Z"}
              for o in answer["offers"]]
    events.append({"type": "accepted", "request_id": rid, "item": answer["offers"][0]["item"],
                   "revenue": 12.5, "channel": "email", "time": 1736510500})
    r = client.post("/v1/events", json=events)
    assert r.status_code == 202 and r.json() == {"recorded": len(events), "refused": []}
    log = OfferLog.sqlite(tmp_path / "log.db")  # another connection: committed rows only
    rows = log.events()
    assert [(e.offer_id, e.event) for e in rows] == [(f"{rid}:{e['item']}", e["type"])
                                                     for e in events]
    assert rows[0].source == "+".join(answer["offers"][0]["sources"])
    assert rows[-1].revenue == 12.5 and rows[-1].channel == "email"
    # a retried batch is refused event by event, never written twice
    again = client.post("/v1/events", json={"events": events}).json()
    assert again["recorded"] == 0 and [x["index"] for x in again["refused"]] == list(
        range(len(events)))
    assert len(log) == len(events)
    # a bad event refuses the whole batch before anything is written
    bad = [{"type": "presented", "request_id": "r9", "item": "A"},
           {"type": "presented", "request_id": "r9", "item": "B", "time": "soon"}]
    r = client.post("/v1/events", json=bad)
    assert r.status_code == 400 and r.json()["field"] == "[1].time"
    assert len(log) == len(events)
    metrics = client.get("/metrics", ).text
    assert 'upsell_events_recorded_total{type="presented"} 3' in metrics
    assert 'upsell_events_refused_total{type="accepted"} 1' in metrics


def test_events_without_an_offer_log_are_503(client_factory: Any) -> None:
    client = client_factory(offer_log=None)
    r = client.post("/v1/events", json=[{"type": "presented", "request_id": "r", "item": "A"}])
    assert r.status_code == 503 and "--offer-log" in r.json()["error"]


def test_reload_swaps_and_keeps_serving_on_a_bad_folder(client_factory: Any, model_dirs: Any,
                                                        tmp_path: Path) -> None:
    client = client_factory()
    first = client.get("/v1/health").json()
    r = client.post("/v1/reload", json={"model_dir": str(model_dirs[1])})
    assert r.status_code == 200, r.text
    assert r.json()["previous_version"] == first["model_version"]
    assert r.json()["model_version"] != first["model_version"]
    assert client.get("/v1/health").json()["model_version"] == r.json()["model_version"]
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "recommender.json").write_text("{not json")
    r = client.post("/v1/reload", json={"model_dir": str(bad)})
    assert r.status_code == 400 and r.json()["field"] == "model_dir"
    assert "still serving" in r.json()["error"]
    assert client.post("/v1/reload", json={"model_dir": str(tmp_path / "none")}).status_code == 400
    # an empty body reloads the folder served now
    r = client.post("/v1/reload")
    assert r.status_code == 200 and r.json()["model_dir"] == str(model_dirs[1])
    assert 'upsell_model_reloads_total{result="failed"} 2' in client.get("/metrics").text


def test_reload_under_concurrent_requests(client_factory: Any, model_dirs: Any,
                                          shop: Any) -> None:
    client = client_factory()
    bodies = requests_for(shop, 12)
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            for body in bodies:
                r = client.post("/v1/recommend", json=body)
                statuses.append(r.status_code)
                if r.status_code == 200:
                    versions.add(r.json()["model_version"])

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(6):
            r = client.post("/v1/reload", json={"model_dir": str(model_dirs[i % 2])})
            assert r.status_code == 200, r.text
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert statuses and set(statuses) == {200}
    assert len(versions) == 2


def test_key(client_factory: Any) -> None:
    client = client_factory(api_key=KEY)
    body = {"k": 2}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY},
                    {"Authorization": f"Basic {KEY}"}, {"Authorization": f"Bearer {KEY}x"}):
        r = client.post("/v1/recommend", json=body, headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["field"] is None and "API key" in r.json()["error"]
        assert r.headers["www-authenticate"] == "Bearer"
    ok = {"Authorization": f"Bearer {KEY}"}
    assert client.post("/v1/recommend", json=body, headers=ok).status_code == 200
    assert client.post("/v1/recommend", json=body,
                       headers={"Authorization": f"bearer {KEY}"}).status_code == 200
    for path in ("/metrics", "/nowhere"):
        assert client.get(path).status_code == 401
    assert client.post("/v1/reload").status_code == 401
    assert client.post("/v1/events", json=[]).status_code == 401
    assert client.get("/v1/health").status_code == 200  # probes need no key
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/metrics", headers=ok).status_code == 200


def test_error_codes(client_factory: Any, model_dirs: Any) -> None:
    client = client_factory(max_body=2048)
    cases = [
        (client.post("/v1/recommend", content=b"{"), 400, None),
        (client.post("/v1/recommend", json={"k": "3"}), 400, "k"),
        (client.post("/v1/recommend", json={"k": 500}), 400, "k"),
        (client.post("/v1/recommend", json={"kk": 5}), 400, "kk"),
        (client.post("/v1/recommend", json={"moment": "lunch"}), 400, "moment"),
        (client.post("/v1/recommend", json={"at": "not a time"}), 400, "at"),
        (client.post("/v1/recommend", content=b"x" * 3000), 413, None),
        (client.get("/v1/nothing"), 404, None),
        (client.get("/v1/recommend"), 405, None),
        (client.put("/v1/events", json=[]), 405, None),
    ]
    for r, status, field in cases:
        assert r.status_code == status, (r.request.url, r.text)
        assert r.headers["content-type"] == "application/json"
        assert set(r.json()) == {"error", "field"} and r.json()["field"] == field, r.json()
        assert "Traceback" not in r.text
    assert cases[-1][0].headers["allow"] == "POST"
    # a 404 says where to go: the path with its version, or the paths there are
    assert client.get("/health").json()["error"] == \
        "no such path '/health'; did you mean '/v1/health'?"
    assert "; the paths are /v1/recommend, /v1/events, " in cases[7][0].json()["error"]

    # streamed (chunked, no Content-Length): counted as it arrives
    def chunks() -> Any:
        for _ in range(10):
            yield b" " * 500

    r = client.post("/v1/recommend", content=chunks())
    assert r.status_code == 413 and "over 2,048 bytes" in r.json()["error"]
    r = client.post("/v1/events", content=chunks())
    assert r.status_code == 413


def test_internal_error_is_json_without_a_trace(client_factory: Any) -> None:
    client = client_factory()
    slot = client.app.slot

    class Broken:
        def recommend(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("secret internals /etc/passwd")

    cur = slot.current
    slot.current = type(cur)(Broken(), cur.model_dir, cur.version, cur.loaded_at,
                             cur.generation)
    r = client.post("/v1/recommend", json={})
    assert r.status_code == 500
    assert r.json() == {"error": "internal error; the server log has the details",
                        "field": None}
    assert 'upsell_http_errors_total{path="/v1/recommend",status="500"} 1' in client.get(
        "/metrics").text


def test_health_metrics_openapi(client_factory: Any) -> None:
    client = client_factory()
    h = client.get("/v1/health").json()
    assert h["status"] == "ok" and h["offer_log"] is True and len(h["model_version"]) == 12
    client.post("/v1/recommend", json={"k": 1})
    text = client.get("/metrics").text
    assert client.get("/metrics").headers["content-type"].startswith("text/plain; version=0.0.4")
    assert f'upsell_model_info{{version="{h["model_version"]}"}} 1' in text
    assert 'upsell_http_request_duration_seconds_count{path="/v1/recommend"} 1' in text
    assert 'upsell_http_request_duration_seconds_bucket{path="/v1/recommend",le="+Inf"} 1' in text
    for line in text.splitlines():  # every sample line: name{labels} value
        if not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            float(value)
            assert name.startswith("upsell_")
    served = client.get("/openapi.json")
    docs = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
    assert served.content == docs.read_bytes()  # the file in docs/, served as is
    spec = json.loads(served.content)
    assert set(spec["paths"]) == {"/v1/recommend", "/v1/events", "/v1/reload", "/v1/health",
                                  "/metrics", "/openapi.json"}


def test_config_hides_the_key() -> None:
    from upsell.serve import ServeConfig

    assert KEY not in repr(ServeConfig("m", api_key=KEY))
    assert KEY not in str(ServeConfig("m", api_key=KEY))


def test_worker_factory_reads_the_config_and_the_key_file(model_dirs: Any, tmp_path: Path,
                                                          monkeypatch: Any) -> None:
    from starlette.testclient import TestClient

    from upsell.serve.app import app_from_env

    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    monkeypatch.delenv("UPSELL_API_KEY", raising=False)
    monkeypatch.setenv("UPSELL_SERVE_CONFIG", json.dumps(
        {"model_dir": str(model_dirs[0]), "offer_log": None, "api_key_file": str(key_file),
         "max_body": 4096, "max_k": 3, "runtime_dir": None, "verify": False}))
    with TestClient(app_from_env()) as client:
        ok = {"Authorization": f"Bearer {KEY}"}
        assert client.post("/v1/recommend", json={"k": 3}).status_code == 401
        assert client.post("/v1/recommend", json={"k": 3}, headers=ok).status_code == 200
        r = client.post("/v1/recommend", json={"k": 4}, headers=ok)
        assert r.status_code == 400 and "from 1 to 3" in r.json()["error"]
    monkeypatch.setenv("UPSELL_SERVE_CONFIG", json.dumps(
        {"model_dir": str(model_dirs[0]), "runtime_dir": None}))
    monkeypatch.setenv("UPSELL_API_KEY", "from-the-environment")
    with TestClient(app_from_env()) as client:
        r = client.get("/metrics", headers={"Authorization": "Bearer from-the-environment"})
        assert r.status_code == 200


def test_quantities_bring_the_quantity_offers(shop: Any, tmp_path: Path) -> None:
    """With `quantities`, the answer has each basket line's next volume price within reach,
    as Recommender.quantity_offers gives it; bad quantities are named."""
    import numpy as np
    from starlette.testclient import TestClient

    from upsell.serve import ServeConfig, create_app
    from upsell.tiers import QuantityBreaks

    from .conftest import fit

    items = [str(i) for i in shop.catalog.items.ids[:2]]
    br = QuantityBreaks(np.array(items), np.array(["ONE", "TWO"]), np.array([4.0, 10.0]),
                        np.array([12, 6]), np.array([3.5, 9.0]), np.array([0.125, 0.1]),
                        *[np.array([5, 5])] * 4)
    rec = fit(shop)
    rec.quantity_breaks = br
    rec.save(tmp_path / "m")
    with TestClient(create_app(ServeConfig(str(tmp_path / "m"))),
                    raise_server_exceptions=False) as client:
        body = {"basket": items, "quantities": [10, None], "k": 2, "at": AT}
        got = client.post("/v1/recommend", json=body).json()
        want = [o.to_dict() for o in br.offers({items[0]: 10})]
        assert got["quantity_offers"] == want and want[0]["quantity"] == 12
        assert "quantity_offers" not in client.post("/v1/recommend", json={
            "basket": items, "k": 2, "at": AT}).json()
        for quantities, field in (([10], "quantities"), ([0, 1], "quantities[0]"),
                                  ([True, 1], "quantities[0]"), ("10", "quantities")):
            r = client.post("/v1/recommend", json={"basket": items, "quantities": quantities})
            assert r.status_code == 400 and r.json()["field"] == field, r.text
