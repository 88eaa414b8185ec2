"""The demo city's geography and names: districts of Hangzhou, distances, travel times.

Everything is drawn from the caller's ``random.Random`` so the city is the same
for the same seed. Distances are great-circle (haversine) kilometres.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import timedelta

__all__ = [
    "District", "DISTRICTS", "Point", "km_between", "near", "truck_time", "bike_time",
    "person_name", "street_address", "phone_number", "plate", "FAR_CITIES", "MANUFACTURERS",
]


@dataclass(frozen=True, slots=True)
class Point:
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class District:
    region: str  # 6-digit administrative division code
    name: str
    centre: Point
    radius_km: float
    weight: float  # share of the city's users


DISTRICTS = (
    District("330102", "Shangcheng", Point(30.2425, 120.1693), 4.0, 0.16),
    District("330105", "Gongshu", Point(30.3195, 120.1420), 4.5, 0.16),
    District("330106", "Xihu", Point(30.2594, 120.1300), 5.5, 0.15),
    District("330108", "Binjiang", Point(30.2084, 120.2119), 4.0, 0.10),
    District("330109", "Xiaoshan", Point(30.1625, 120.2645), 7.0, 0.15),
    District("330110", "Yuhang", Point(30.2733, 119.9790), 7.0, 0.10),
    District("330113", "Linping", Point(30.4190, 120.3000), 6.0, 0.10),
    District("330114", "Qiantang", Point(30.3230, 120.4930), 6.0, 0.08),
)

# Where a cloned label turns up: over 100 km from the city centre, so no truck gets there in an hour.
FAR_CITIES = (
    Point(31.2304, 121.4737),  # Shanghai
    Point(29.8683, 121.5440),  # Ningbo
    Point(29.4747, 119.2815),  # Jiande
    Point(29.6095, 119.0420),  # Chun'an
    Point(32.0603, 118.7969),  # Nanjing
)

MANUFACTURERS = (
    "Zhejiang Jindun Pressure Vessel Co.",
    "Ningbo Steel Cylinder Works",
    "Jiangsu Minsheng Heavy Industry",
    "Shandong Huachen Pressure Vessel Group",
    "Anhui Chunhui Gas Cylinder Co.",
)

_EARTH_KM = 6371.0088
_SURNAMES = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun",
             "Ma", "Zhu", "Hu", "Guo", "He", "Lin", "Luo", "Gao", "Zheng", "Shen", "Fang", "Jiang")
_GIVEN = ("Wei", "Fang", "Na", "Min", "Jing", "Li", "Qiang", "Lei", "Jun", "Yang", "Yong", "Yan", "Jie",
          "Tao", "Ming", "Chao", "Xiuying", "Hua", "Ping", "Gang", "Guilan", "Hui", "Xin", "Yu", "Hao")
_ROADS = ("Wenyi West Road", "Moganshan Road", "Jiefang Road", "Qingchun Road", "Tianmushan Road",
          "Jianguo North Road", "Binsheng Road", "Jiangnan Avenue", "Shixin Road", "Gudun Road",
          "Fengqi Road", "Qiutao Road", "Xueyuan Road", "Dongxin Road", "Zhongshan Middle Road")


def km_between(a: Point, b: Point) -> float:
    """Great-circle distance in kilometres."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    dphi, dlmb = phi2 - phi1, math.radians(b.lon - a.lon)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * _EARTH_KM * math.asin(math.sqrt(h))


def near(rng: random.Random, centre: Point, radius_km: float) -> Point:
    """A point uniformly spread within ``radius_km`` of ``centre``, rounded to about a metre."""
    distance = radius_km * math.sqrt(rng.random())
    bearing = rng.uniform(0, 2 * math.pi)
    dlat = distance * math.cos(bearing) / 111.32
    dlon = distance * math.sin(bearing) / (111.32 * math.cos(math.radians(centre.lat)))
    return Point(round(centre.lat + dlat, 5), round(centre.lon + dlon, 5))


def truck_time(a: Point, b: Point) -> timedelta:
    """A loaded truck in city traffic: about 30 km/h by road, roads 1.3 times the straight line."""
    return timedelta(seconds=round(60 * (6 + km_between(a, b) * 1.3 / 30 * 60)))


def bike_time(a: Point, b: Point) -> timedelta:
    """A delivery worker's electric tricycle: about 15 km/h."""
    return timedelta(seconds=round(60 * (2 + km_between(a, b) * 1.3 / 15 * 60)))


def person_name(rng: random.Random) -> str:
    given = rng.choice(_GIVEN) + (rng.choice(_GIVEN).lower() if rng.random() < 0.5 else "")
    return f"{rng.choice(_SURNAMES)} {given}"


def street_address(rng: random.Random, district: District) -> str:
    return (f"{rng.randint(1, 980)} {rng.choice(_ROADS)}, Building {rng.randint(1, 30)}, "
            f"Room {rng.randint(1, 28)}{rng.randint(1, 4):02d}, {district.name} District, Hangzhou")


def phone_number(rng: random.Random) -> str:
    return f"1{rng.choice('3589')}{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}"


def plate(rng: random.Random) -> str:
    """A Zhejiang-A hazardous-goods plate, e.g. ``浙A·D3K217``."""
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    tail = "".join(rng.choice("0123456789" + letters) for _ in range(4))
    return f"浙A·{rng.choice(letters)}{tail}{rng.randint(0, 9)}"
