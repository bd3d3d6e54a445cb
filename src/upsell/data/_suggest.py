"""Which column of a file holds which role, guessed from common export headers: the advice
an error gives when a file's headers are not the role names (:func:`suggest_columns`)."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["CATALOG_SYNONYMS", "CATEGORY_ITEMS", "ROLES", "category_note", "header_key",
           "header_list", "suggest_columns"]

#: The roles of an order-lines file, in their canonical order.
ROLES = ("order", "item", "customer", "quantity", "price", "time", "channel", "name", "value",
         "cost", "profit")


#: common export headers of each role, compared lower case without spaces, "_", "-", "#"
#: or "." (Online Retail I and II, Instacart, Olist, Dunnhumby, Ta-Feng, Retailrocket; Google
#: Analytics 4's and Universal Analytics' BigQuery exports, Segment and Mixpanel events; the order exports
#: of Shopify, WooCommerce, Magento, BigCommerce, Ecwid, Etsy, Square and Amazon Seller
#: Central; ERP line exports)
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "order": ("invoiceno", "invoice", "invoiceid", "invoicenumber", "orderid", "ordernumber",
              "orderno", "order", "transactionid", "transaction", "basketid", "receiptid",
              "receipt", "ticketid", "ticket", "amazonorderid", "salesorder",
              "salesorderid", "salesordernumber", "ordernum", "ticketnumber", "ticketno",
              "receiptnumber", "receiptno", "transactionnumber", "transactionno", "billno",
              "billnumber", "checkid", "checknumber", "incrementid", "visitnumber",
              "visitid", "tripnumber", "tripid"),
    "item": ("stockcode", "sku", "itemid", "productid", "product", "article", "articleid",
             "productcode", "itemcode", "ean", "upc", "lineitemsku", "productsku", "itemsku",
             "variantsku", "item", "itemnumber", "itemno", "productnumber", "productno",
             "articlenumber", "articleno", "partnumber", "partno", "materialnumber"),
    "customer": ("customerid", "customer", "customerno", "customernumber", "clientid",
                 "client", "userid", "user", "memberid", "householdkey", "household",
                 "customeruniqueid", "email", "customeremail", "billingemail",
                 "customeruserid", "buyer", "buyerid", "buyeremail", "customercode",
                 "accountid", "accountnumber", "shopperid", "visitorid", "visitor",
                 "userpseudoid", "fullvisitorid", "anonymousid", "distinctid",
                 "membernumber", "member", "memberno", "loyaltyid", "loyaltycard",
                 "loyaltycardnumber", "cardnumber", "cardid", "customername", "clientname",
                 "buyername"),
    "quantity": ("quantity", "qty", "units", "unitssold", "numberofunits", "lineitemquantity",
                 "qtyordered", "quantityordered", "orderedquantity", "productqty",
                 "productquantity", "itemquantity", "itemqty", "scancount"),
    "price": ("unitprice", "price", "priceperunit", "itemprice", "lineitemprice", "itemcost",
              "productunitprice", "productprice", "itemunitprice", "saleprice", "priceeach"),
    "time": ("invoicedate", "orderdate", "transactiondate", "transactiondt", "datetime",
             "timestamp", "date", "time", "orderpurchasetimestamp", "createdat",
             "purchasedate", "tdat", "day", "saledate", "orderdatetime", "orderplaced",
             "ordercreated", "createddate", "dateordered", "orderedat", "paidat",
             "eventtimestamp", "eventtime", "eventdate"),
    "name": ("description", "productname", "itemname", "productdescription", "title",
             "lineitemname", "itemdescription", "articlename", "articledescription",
             "producttitle", "productdetail", "productdetails", "itemdetail"),
    "value": ("salesvalue", "linetotal", "lineamount", "totalprice", "sales", "revenue",
              "grosssales", "itemtotal", "rowtotal", "extendedprice", "netsales"),
    "channel": ("channel", "saleschannel"),
    # ("purchaseprice" is left to catalogs: in order lines it may be what the customer paid)
    "cost": ("unitcost", "costprice", "costperunit", "costperitem", "itemunitcost", "cost"),
    "profit": ("profit", "grossprofit", "lineprofit", "profitamount"),
}


#: role -> (prefixes, suffixes) of headers that name it when no header of _SYNONYMS does
#: ("number_of_cds", "dollar_value", "Order Amount"): tried last, for the order-line roles
#: only, and a line total (value) only when no unit price was found
_SHAPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "quantity": (("numberof", "qty"), ("qty", "quantity", "units")),
    "value": ((), ("value", "amount", "spend", "spent")),
}
_ID_ENDS = ("id", "no", "num", "number", "code", "key", "ref", "nbr")
#: role -> (prefixes, suffixes) that both must hold ("PROD_CODE", "CUST_CODE", "SHOP_DATE",
#: "BasketKey", "txn_ts" in exports no synonym names): tried after the synonyms and _SHAPES
_BOTH: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "order": (("order", "invoice", "basket", "transaction", "txn", "receipt", "ticket",
               "cart", "checkout"), _ID_ENDS),
    "item": (("prod", "item", "article", "sku", "material", "goods", "merchandise",
              "variant"), (*_ID_ENDS, "sku")),
    "customer": (("cust", "client", "member", "user", "buyer", "shopper", "account",
                  "household", "hshd", "consumer", "patron", "guest", "person"), _ID_ENDS),
    "time": (("order", "invoice", "purchase", "transaction", "txn", "sale", "shop", "event",
              "created", "bought", "basket", "receipt", "ticket"),
             ("date", "datetime", "time", "timestamp", "dt", "ts", "at", "day")),
}

#: (header, role, word): ``word`` is the role's header only beside ``header`` (Shopify's
#: "Name" is the order, #1001, in a file with "Lineitem sku"; elsewhere it is a name; Amazon's
#: "item-price" is the line's total for its quantity, in a file with "amazon-order-id"; Ta-Feng's
#: "AMOUNT" is the units and "SALES_PRICE" the line's total; an API order's "id" is the order
#: in a record with a "line_items" list, Shopify's and WooCommerce's)
_BESIDE = (("lineitemsku", "order", "name"), ("amazonorderid", "value", "itemprice"),
           ("salesprice", "quantity", "amount"), ("amount", "value", "salesprice"),
           ("lineitems", "order", "id"))

#: a catalog's common headers (``Catalog.read_csv``'s advice when it finds no ``item``)
CATALOG_SYNONYMS: dict[str, tuple[str, ...]] = {
    "item": _SYNONYMS["item"] + ("productno", "productnumber", "articlenumber", "code"),
    "name": ("name",) + _SYNONYMS["name"],
    "category": ("category", "categories", "categoryname", "productcategory",
                 "productcategories", "productcategoryname",
                 "department", "subcategory", "productsubclass", "commodity", "commoditydesc",
                 "aisle", "aisleid", "categoryid", "departmentid"),
    "family": ("family", "productfamily", "handle", "parent", "parentsku", "parentid",
               "parentproductid", "styleid", "stylecode", "brand", "manufacturer",
               "productline"),
    "tier": ("tier", "level", "grade"),
    # a catalog's regular price first: WooCommerce's "Sale price" is blank off sale
    "price": ("regularprice", *_SYNONYMS["price"], "variantprice", "listprice", "retailprice",
              "sellingprice", "msrp"),
    "cost": ("cost", "unitcost", "costprice", "costperitem", "variantcost", "purchaseprice",
             "cogs"),
    "stock": ("stock", "inventory", "onhand", "stocklevel", "quantityonhand", "available",
              "variantinventoryqty", "inventoryqty", "inventoryquantity", "stockquantity",
              "stockqty", "qtyonhand"),
    # ("type" and "product_type" are free text in most exports, Shopify's "Decor": no kind)
    "kind": ("kind", "offerkind", "itemkind"),
}


def header_key(header: str) -> str:
    """A header as the synonyms compare it: lower case, without spaces, ``_``, ``-``, ``#``
    or ``.``.

    >>> header_key("Order #"), header_key("financial_status")
    ('order', 'financialstatus')
    """
    return re.sub(r"[\s_\-#.]+", "", header).lower()


def suggest_columns(available: list[str], taken: Mapping[str, int] | None = None,
                    synonyms: Mapping[str, tuple[str, ...]] | None = None
                    ) -> dict[str, str]:
    """Role -> header of ``available`` that a common export uses for it (for an error's advice).

    Headers are compared in lower case without spaces, ``_``, ``-``, ``#`` and ``.``; each
    header serves one role; roles already in ``taken`` (role -> position) keep theirs and
    are left out. A file with product names and no product id is advised its names as the
    items. A header no synonym names may still name ``quantity`` or ``value`` by
    its shape (``number_of_cds``, ``dollar_value``). ``synonyms``: role -> headers, in
    the order roles are tried (default: the order-line roles). Never used to read
    silently: the caller says what it found.

    Examples
    --------
    >>> suggest_columns(["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate",
    ...                  "Price", "Customer ID", "Country"])
    {'order': 'Invoice', 'item': 'StockCode', 'customer': 'Customer ID', 'quantity': 'Quantity', 'price': 'Price', 'time': 'InvoiceDate', 'name': 'Description'}
    >>> suggest_columns(["Member_number", "Date", "itemDescription"])  # the name is the item
    {'customer': 'Member_number', 'time': 'Date', 'item': 'itemDescription'}
    >>> suggest_columns(["customer_id", "date", "number_of_cds", "dollar_value"])
    {'customer': 'customer_id', 'time': 'date', 'quantity': 'number_of_cds', 'value': 'dollar_value'}
    >>> suggest_columns(["SHOP_DATE", "QUANTITY", "SPEND", "PROD_CODE", "PROD_CODE_10",
    ...                  "CUST_CODE", "BASKET_ID"])  # by the headers' shapes
    {'order': 'BASKET_ID', 'quantity': 'QUANTITY', 'value': 'SPEND', 'item': 'PROD_CODE', 'customer': 'CUST_CODE', 'time': 'SHOP_DATE'}
    >>> suggest_columns(["id", "created_at", "customer.id", "line_items", "line_items.sku",
    ...                  "line_items.quantity", "line_items.price"])
    {'order': 'id', 'item': 'line_items.sku', 'customer': 'customer.id', 'quantity': 'line_items.quantity', 'price': 'line_items.price', 'time': 'created_at'}
    """
    taken = dict(taken or {})
    used = set(taken.values())
    keys: dict[str, int] = {}
    for pos, header in enumerate(available):
        if pos not in used and isinstance(header, str):
            key = header_key(header)
            keys.setdefault(key, pos)
    for pos, header in enumerate(available):  # a nested field by its own name: "line_items.sku"
        if pos not in used and isinstance(header, str) and "." in header.strip("."):
            keys.setdefault(header_key(header.rsplit(".", 1)[1]), pos)
    out: dict[str, str] = {}
    for beside, role, word in _BESIDE if synonyms is None else ():
        if beside in keys and word in keys and role not in taken:
            out[role] = available[keys[word]]
            used.add(keys[word])
    table = _SYNONYMS if synonyms is None else synonyms
    for role in (ROLES if synonyms is None else tuple(table)):
        if role in taken:
            continue
        for word in table.get(role, ()):
            at = keys.get(word)
            if at is not None and at not in used:
                out[role] = available[at]
                used.add(at)
                break
    for role, (starts, ends) in _SHAPES.items() if synonyms is None else ():
        if role in taken or role in out or (role == "value" and ("price" in taken
                                                                 or "price" in out)):
            continue
        # a bare "amount" is units in Ta-Feng and money in a payments export: no guess
        at = next((p for key, p in keys.items() if p not in used and key != "amount"
                   and (key.startswith(starts) or key.endswith(ends))), None)
        if at is not None:
            out[role] = available[at]
            used.add(at)
    for role, (starts, ends) in _BOTH.items() if synonyms is None else ():
        if role in taken or role in out:
            continue
        at = next((p for key, p in keys.items() if p not in used and key.startswith(starts)
                   and key.endswith(ends) and not key.isdigit()), None)
        if at is not None:
            out[role] = available[at]
            used.add(at)
    if synonyms is None and "name" in out and "item" not in out and "item" not in taken:
        # no product id, only its name (Kaggle's Groceries_dataset.csv: "itemDescription")
        out = {("item" if r == "name" else r): h for r, h in out.items()}
    if synonyms is None and "item" not in out and "item" not in taken:
        # no product at all, only its category (Kaggle's supermarket and retail sales files)
        at = next((keys[w] for w in CATEGORY_ITEMS if keys.get(w, -1) not in (-1, *used)),
                  None)
        if at is not None:
            out["item"] = available[at]
    return out


#: headers of a product's category, advised as the items of a file that names no product
CATEGORY_ITEMS = ("productline", "productcategory", "itemcategory", "category",
                  "productsubcategory", "subcategory", "productgroup", "producttype",
                  "itemtype", "department")


def category_note(advised: Mapping[str, object]) -> str:
    """``"; it names no product: ..."`` when the advised item is a category header.

    >>> category_note({"order": "Invoice ID", "item": "Product line"})
    "; it names no product: the categories in 'Product line' are advised as the items"
    """
    item = advised.get("item")
    if isinstance(item, str) and header_key(item) in CATEGORY_ITEMS:
        return f"; it names no product: the categories in {item!r} are advised as the items"
    return ""


def header_list(names: list[str], limit: int = 20) -> str:
    """A file's headers for an error: the first ``limit`` quoted, then how many more.

    >>> header_list(["a", "b", "c"], limit=2)
    "'a', 'b' and 1 more"
    """
    shown = ", ".join(repr(a) for a in names[:limit])
    return shown + (f" and {len(names) - limit:,} more" if len(names) > limit else "")
