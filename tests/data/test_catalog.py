"""Catalog: columns, defaults, validation, alignment, round trips."""

from __future__ import annotations

import numpy as np
import pytest

from upsell.data import KINDS, Catalog, IdIndex
from upsell.exceptions import UpsellDataError


def small() -> Catalog:
    return Catalog.from_records([
        {"item": "P1", "name": "Phone", "family": "phone", "tier": 1, "price": 300, "cost": 200,
         "stock": 5, "storage_gb": 64},
        {"item": "P2", "name": "Phone Pro", "family": "phone", "tier": 2, "price": 450,
         "cost": 280, "stock": 0, "storage_gb": 128, "exclusive": True},
        {"item": "W1", "kind": "warranty", "attaches_to": "phone", "price": 49, "cost": 10},
        {"item": "V1", "kind": "value_pack", "pack_size": 3, "price": 20, "color": "red"},
    ])


def test_columns_defaults_and_features():
    cat = small()
    assert cat.items.ids.tolist() == ["P1", "P2", "V1", "W1"]
    assert cat.kind.tolist() == ["product", "product", "value_pack", "warranty"]
    assert cat.name.tolist()[2:] == ["V1", "W1"]
    assert np.isnan(cat.tier[2]) and cat.tier[1] == 2
    assert cat.pack_size.tolist() == [1, 1, 3, 1]
    assert cat.in_stock.tolist() == [True, False, True, True]
    assert cat.exclusive.tolist() == [False, True, False, False]
    assert list(cat.features) == ["storage_gb"]
    assert cat.attributes["color"].tolist() == ["", "", "red", ""]
    assert cat.row("W1")["attaches_to"] == "phone"
    assert set(KINDS) >= set(cat.kind.tolist())
    assert "items=4" in repr(cat)


@pytest.mark.parametrize(("record", "message"), [
    ({"item": "A", "price": -1}, r"catalog item 'A': `price` -1.0 is negative"),
    ({"item": "A", "cost": -1}, r"`cost` -1.0 is negative"),
    ({"item": "A", "stock": -3}, r"`stock` -3.0 is negative"),
    ({"item": "A", "tier": 2}, r"`tier` 2.0 is given but the item has no `family`"),
    ({"item": "A", "family": "f", "tier": 1.5}, r"`tier` 1.5 must be a whole number"),
    ({"item": "A", "kind": "gadget"}, r"`kind` 'gadget' is not a known kind"),
    ({"item": "A", "pack_size": 0}, r"`pack_size` 0.0 must be a positive number"),
    ({"item": "A", "price": "cheap"}, r"catalog item 'A': `price` 'cheap' is not a number"),
    ({"item": "A", "exclusive": "maybe"}, r"`exclusive` 'maybe' is not true/false"),
])
def test_validation_names_item_column_and_value(record, message):
    with pytest.raises(UpsellDataError, match=message):
        Catalog.from_records([record])


def test_duplicates_and_missing_items_refused():
    with pytest.raises(UpsellDataError, match="'A' appears more than once"):
        Catalog.from_arrays(item=["A", "A"])
    with pytest.raises(UpsellDataError, match="catalog row 2: `item` is empty"):
        Catalog.from_arrays(item=["A", None])
    with pytest.raises(UpsellDataError, match="has 1 values; there are 2 items"):
        Catalog.from_arrays(item=["A", "B"], price=[1.0])
    with pytest.raises(UpsellDataError, match="no column 'zzz'"):
        small().column("zzz")
    with pytest.raises(UpsellDataError, match=r"`items` must be an IdIndex .* not list: build "
                                              r"one with IdIndex\(ids\)"):
        Catalog(["A", "B"], price=[1.0, 2.0])


def test_align_fills_unknown_items():
    cat = small().align(IdIndex(["W1", "NEW"]))
    assert cat.items.ids.tolist() == ["W1", "NEW"]
    assert cat.price[0] == 49 and np.isnan(cat.price[1])
    assert cat.kind.tolist() == ["warranty", "product"]
    assert cat.name.tolist() == ["W1", "NEW"]
    assert cat.pack_size.tolist() == [1.0, 1.0]


def test_csv_pandas_and_saved_round_trips(tmp_path):
    pd = pytest.importorskip("pandas")
    cat = small()
    df = cat.to_pandas()
    again = Catalog.from_pandas(df)
    np.testing.assert_array_equal(again.price, cat.price)
    path = tmp_path / "cat.csv"
    df.to_csv(path, index=False)
    from_csv = Catalog.read_csv(path)
    np.testing.assert_array_equal(from_csv.tier, cat.tier)
    assert from_csv.kind.tolist() == cat.kind.tolist()
    saved = Catalog.from_saved(cat.items, cat.to_arrays())
    np.testing.assert_array_equal(saved.features["storage_gb"], cat.features["storage_gb"])
    assert saved.attributes["color"].tolist() == cat.attributes["color"].tolist()
    with pytest.raises(UpsellDataError, match="no `item` column"):
        Catalog.from_pandas(pd.DataFrame({"sku": ["a"]}))


# ------------------------------------------------------- hostile catalog files (independent run)
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(n=st.integers(2, 12), broken=st.data())
def test_catalog_unterminated_quote_is_an_error_naming_its_line(tmp_path_factory, n, broken):
    """A quote that never closes must not swallow the rest of the file into one name."""
    at = broken.draw(st.integers(0, n - 1))
    lines = [f'i{k},{k + 1}.5,"Name {k}"' for k in range(n)]
    lines[at] = f'i{at},{at + 1}.5,"Name {at}'
    path = tmp_path_factory.mktemp("cat") / "cat.csv"
    path.write_text("item,price,name\n" + "\n".join(lines) + "\n")
    # the quote runs on into the next line: either it never closes (last row) or the csv
    # reader finds a character where a delimiter must follow it; both name the row and line
    with pytest.raises(UpsellDataError, match=rf"row {at + 1} \(line {at + 2}\)"):
        Catalog.read_csv(path)


def test_catalog_nul_and_overlong_fields_are_clear_errors(tmp_path):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"item,price\na\x00b,1\n")
    with pytest.raises(UpsellDataError, match="line 2 holds a NUL"):
        Catalog.read_csv(path)
    path = tmp_path / "long.csv"
    path.write_text("item,name\na," + "x" * 200_000 + "\n")
    with pytest.raises(UpsellDataError, match=r"row 1 .*longer than the CSV reader's limit"):
        Catalog.read_csv(path)


def test_int_ids_beyond_64_bits_are_refused_by_name():
    from upsell import Transactions

    with pytest.raises(UpsellDataError, match="`customer` ids do not fit in 64 bits"):
        Transactions.from_records([{"order": 1, "item": "a", "customer": 2**63}])


def test_a_catalog_without_an_item_column_names_the_mapping_its_headers_suggest(tmp_path):
    p = tmp_path / "products.csv"
    p.write_text("sku,title,category,price,unit_cost\nA1,Red mug,kitchen,4.5,2\n"
                 "A2,Blue mug,kitchen,5.5,2.2\n")
    with pytest.raises(UpsellDataError) as err:
        Catalog.read_csv(p)
    assert str(err.value).endswith(
        "its headers look like columns={'item': 'sku', 'name': 'title', 'cost': 'unit_cost'}")
    cat = Catalog.read_csv(p, columns={"item": "sku", "name": "title", "cost": "unit_cost"})
    assert cat.name.tolist() == ["Red mug", "Blue mug"] and cat.cost.tolist() == [2.0, 2.2]


def test_catalog_decimal_commas(tmp_path):
    p = tmp_path / "cat.csv"
    p.write_text("item;name;price;cost\nA;Mug, red;4,50;2\nB;Cup;5;\n")
    cat = Catalog.read_csv(p, delimiter=";", decimal=",")
    assert cat.price.tolist() == [4.5, 5.0] and cat.name.tolist() == ["Mug, red", "Cup"]
    assert cat.cost[0] == 2.0 and np.isnan(cat.cost[1])


def test_shopifys_product_export_is_advised_and_its_variants_filled_from_their_product(tmp_path):
    """Shopify's product CSV: one row per variant, the product's title, type and category on
    its first variant's row only, the product being its Handle."""
    p = tmp_path / "products_export_1.csv"
    p.write_text(
        "Handle,Title,Vendor,Product Category,Type,Variant SKU,Variant Inventory Qty,"
        "Variant Price,Variant Compare At Price,Cost per item\n"
        "mug,Red mug,Acme,Kitchen,Decor,M-S,4,4.50,,2.00\n"
        "mug,,,,,M-L,0,6.50,7.00,2.50\n"
        "tee,Tee,Acme,,Apparel,T-1,9,12.00,,5.00\n")
    with pytest.raises(UpsellDataError) as err:
        Catalog.read_csv(p)
    cols = {"item": "Variant SKU", "name": "Title", "category": "Product Category",
            "family": "Handle", "price": "Variant Price", "cost": "Cost per item",
            "stock": "Variant Inventory Qty"}
    assert str(err.value).endswith(f"its headers look like columns={cols}")
    cat = Catalog.read_csv(p, columns=cols)
    assert cat.name.tolist() == ["Red mug", "Red mug", "Tee"]
    assert cat.category.tolist() == ["Kitchen", "Kitchen", ""]  # the tee's is blank: stays
    assert cat.items.ids.tolist() == ["M-L", "M-S", "T-1"]
    assert cat.family.tolist() == ["mug", "mug", "tee"] and cat.stock.tolist() == [0, 4, 9]
    assert dict(cat.repaired) == {"name filled from its family's first row": 1,
                                  "category filled from its family's first row": 1}


def test_woocommerces_product_export_is_advised_its_regular_price(tmp_path):
    """WooCommerce's "Sale price" is blank off sale: the advice takes "Regular price"."""
    p = tmp_path / "wc-product-export.csv"
    p.write_text("ID,Type,SKU,Name,Stock,Sale price,Regular price,Categories,Parent\n"
                 "11,variation,hoodie-blue,Hoodie - Blue,5,,45,,id:10\n"
                 "13,simple,cap,Cap,20,16,18,Accessories,\n")
    with pytest.raises(UpsellDataError) as err:
        Catalog.read_csv(p)
    assert str(err.value).endswith(
        "its headers look like columns={'item': 'SKU', 'name': 'Name', 'category': "
        "'Categories', 'family': 'Parent', 'price': 'Regular price', 'stock': 'Stock'}")


def test_shopifys_products_json_reads_one_item_per_variant(tmp_path, capsys):
    """The Admin API's products.json: each product's variants are its items, the product's
    own fields (title, handle, type) repeated on each; other lists (images) are not read."""
    import json

    products = [
        {"id": 1, "title": "Mug", "handle": "mug", "product_type": "Kitchen",
         "images": [{"src": "m.png"}],
         "variants": [{"sku": "M-S", "price": "4.50", "inventory_quantity": 4},
                      {"sku": "M-L", "price": "6.50", "inventory_quantity": 0}]},
        {"id": 2, "title": "Cap", "handle": "cap", "product_type": "Apparel", "images": [],
         "variants": [{"sku": "C-1", "price": "12.00", "inventory_quantity": 9}]}]
    p = tmp_path / "products.json"
    p.write_text(json.dumps({"products": products}, indent=2))
    with pytest.raises(UpsellDataError, match=r"its headers look like columns=\{'item': "
                       r"'variants.sku', 'name': 'title', 'family': 'handle', 'price': "
                       r"'variants.price', 'stock': 'variants.inventory_quantity'\}"):
        Catalog.read_table(p)
    cols = {"item": "variants.sku", "name": "title", "family": "handle",
            "price": "variants.price", "stock": "variants.inventory_quantity"}
    cat = Catalog.read_table(p, columns=cols)
    assert cat.items.ids.tolist() == ["C-1", "M-L", "M-S"]
    assert cat.name.tolist() == ["Cap", "Mug", "Mug"] and cat.family.tolist() == ["cap", "mug",
                                                                                  "mug"]
    assert cat.price.tolist() == [12.0, 6.5, 4.5] and cat.stock.tolist() == [9, 0, 4]
    assert cat.column("product_type").tolist() == ["Apparel", "Kitchen", "Kitchen"]
    with pytest.raises(UpsellDataError, match=r"column 'variants.size' is not in the catalog"):
        Catalog.read_table(p, columns={**cols, "name": "variants.size"})
    from upsell.cli import main

    orders = tmp_path / "orders.csv"
    orders.write_text("order,item,price\n1,M-S,4.5\n1,C-1,12\n2,M-L,6.5\n")
    page = tmp_path / "r.html"
    assert main(["--quiet", "report", str(orders), "--catalog", str(p), "--catalog-columns",
                 ",".join(f"{k}={v}" for k, v in cols.items()), "--out", str(page)]) == 0
    assert "3 product" in page.read_text()
