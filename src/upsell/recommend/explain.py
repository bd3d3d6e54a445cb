"""Sales cues: an offer's reason rendered for the channel, from user-overridable templates.

A cue is a line on the web page, a sentence in an e-mail, or a script line for
store staff. The template is chosen by channel and by the *style* of the
strongest source (``bundle``, ``cf``, ``upsell``, ``sequence``, ``popular``,
``promoted`` or ``default``), or ``replenish`` for a "buy again" offer (an item the
customer bought before, offered when the request allows owned items: offer kind
``"replenish"``); fields are filled from the offer's data.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from upsell.exceptions import UpsellDataError

__all__ = ["CHANNELS", "CUE_FIELDS", "CUE_STYLES", "CueTemplates"]

#: Channels a cue can be rendered for.
CHANNELS = ("web", "email", "store")
#: Template styles (the strongest source's kind of evidence; ``replenish``: a buy-again offer).
CUE_STYLES = ("bundle", "cf", "upsell", "sequence", "popular", "promoted", "replenish",
              "default")
#: Fields a template may use.
CUE_FIELDS = ("name", "item", "price", "because", "base", "price_diff", "share_pct",
              "lag_days", "age_days", "due", "segment", "source_cue", "category", "strategy",
              "blend_reason")

_DEFAULTS: dict[str, dict[str, str]] = {
    "web": {
        "bundle": "Frequently bought with {because}",
        "cf": "Customers like you also bought {name}",
        "upsell": "{source_cue}",
        "sequence": "Customers who bought {because} buy {name} next",
        "popular": "Popular with customers like you",
        "promoted": "Featured: {name}",
        "replenish": "Buy again: {name}",
        "default": "Recommended for you: {name}",
    },
    "email": {
        "bundle": "Customers who bought {because} often add {name} ({price}).",
        "cf": "Based on your purchases, we think you will like {name} ({price}).",
        "upsell": "Ready for more? {name} is {price_diff} more than {base}, and {share_pct} of "
                  "customers like you chose it.",
        "sequence": "Time for {name}? Customers who bought {because} usually buy it about "
                    "{lag_days} days later.",
        "popular": "{name} is a favourite among customers like you.",
        "promoted": "Featured this week: {name} ({price}).",
        "replenish": "Time to stock up on {name} again? ({price})",
        "default": "You might like {name} ({price}).",
    },
    "store": {
        "bundle": "Ask whether they need {name} to go with {because}.",
        "cf": "Mention {name}: customers with similar purchases buy it.",
        "upsell": "Show them {name}: {price_diff} more than {base}; {share_pct} of similar "
                  "customers chose it.",
        "sequence": "They bought {because} {age_days} days ago; ask whether they need {name} now.",
        "popular": "Point out {name}, one of our best sellers.",
        "promoted": "Point out {name}, featured this week.",
        "replenish": "They have bought {name} before; ask whether they need more.",
        "default": "Suggest {name}.",
    },
}


def _fields(template: str) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise UpsellDataError(f"cue template {template!r} is malformed ({exc})") from None
    out = []
    for _, field_name, spec, conv in parsed:
        if field_name is None:
            continue
        if field_name not in CUE_FIELDS or spec or conv:
            raise UpsellDataError(
                f"cue template {template!r} uses {{{field_name}}}; templates may use plain "
                f"fields {', '.join(CUE_FIELDS)}")
        out.append(field_name)
    return out


class CueTemplates:
    """Cue templates per channel and style, the defaults overridden by ``overrides``.

    Parameters
    ----------
    overrides : mapping, optional
        ``{channel: {style: template}}`` (or ``{(channel, style): template}``).
        Templates are ``str.format`` strings over :data:`CUE_FIELDS`; a cue
        whose fields are missing for an offer falls back to the channel's
        ``default`` template.

    Examples
    --------
    >>> t = CueTemplates({"web": {"bundle": "Goes well with {because}"}})
    >>> t.render("web", "bundle", {"because": "Tea", "name": "Mug"})
    'Goes well with Tea'
    >>> t.render("email", "bundle", {"name": "Mug", "price": "3.00"})
    'You might like Mug (3.00).'
    """

    def __init__(self, overrides: Mapping[Any, Any] | None = None) -> None:
        table = {c: dict(v) for c, v in _DEFAULTS.items()}
        for key, value in (overrides or {}).items():
            if isinstance(key, tuple) and len(key) == 2:
                pairs: Any = [(key[0], key[1], value)]
            elif isinstance(value, Mapping):
                pairs = [(key, s, t) for s, t in value.items()]
            else:
                raise UpsellDataError(
                    f"`cue_templates` must map channel -> {{style: template}}; got "
                    f"{key!r}: {value!r}")
            for channel, style, tpl in pairs:
                if channel not in CHANNELS:
                    raise UpsellDataError(f"cue template channel must be one of "
                                          f"{', '.join(CHANNELS)}; got {channel!r}")
                if not isinstance(style, str) or not style:
                    raise UpsellDataError(f"cue template style must be a string; got {style!r}")
                if not isinstance(tpl, str):
                    raise UpsellDataError(f"cue template must be a string; got {tpl!r}")
                table[channel][style] = tpl
        self._fields = {(c, s): _fields(t) for c, v in table.items() for s, t in v.items()}
        self.templates: Mapping[str, Mapping[str, str]] = MappingProxyType(
            {c: MappingProxyType(v) for c, v in table.items()})

    def render(self, channel: str, style: str, values: Mapping[str, str]) -> str:
        """The cue for one offer (``values``: field -> text)."""
        table = self.templates[channel]
        tpl = table.get(style)
        if tpl is None or any(not values.get(f) for f in self._fields[(channel, style)]):
            tpl, style = table["default"], "default"
            if any(not values.get(f) for f in self._fields[(channel, style)]):
                return str(values.get("name", ""))
        return tpl.format_map({f: values.get(f, "") for f in self._fields[(channel, style)]})

    def to_dict(self) -> dict[str, dict[str, str]]:
        """Every template (defaults included), JSON-ready.

        Examples
        --------
        >>> CueTemplates().to_dict()["store"]["default"]
        'Suggest {name}.'
        """
        return {c: dict(v) for c, v in self.templates.items()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CueTemplates) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        changed = sum(1 for c, v in self.templates.items() for s, t in v.items()
                      if _DEFAULTS[c].get(s) != t)
        return f"CueTemplates(overridden={changed})"


def money(x: float) -> str:
    """Format a price for a cue ("" when unknown)."""
    return "" if x != x else f"{x:,.2f}"
