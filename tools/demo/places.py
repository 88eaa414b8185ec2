"""The demo city's geography and names: districts of Hangzhou, distances, travel times; the names a city
founds its parties with (``Locale``), Hangzhou's unless the province demo founds another city.

Everything is drawn from the caller's ``random.Random`` so the city is the same
for the same seed. Distances are great-circle (haversine) kilometres. People's
names come from Faker's zh_CN tables (surnames weighted by how common they are);
a firm's trade name (字号) is two of the auspicious characters such names are
commonly made of; the roads are real roads of the districts they are placed in.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import timedelta

from faker.providers.person.zh_CN import Provider as _People

__all__ = [
    "District", "DISTRICTS", "Locale", "HANGZHOU", "Point", "km_between", "near", "truck_time", "bike_time",
    "person_name", "trade_name", "street_address", "phone_number", "plate", "FAR_CITIES", "MANUFACTURERS",
]


@dataclass(frozen=True, slots=True)
class Point:
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class District:
    region: str  # 6-digit administrative division code (GB/T 2260)
    name: str  # as people write it, 上城区
    centre: Point
    radius_km: float
    weight: float  # share of the city's users


DISTRICTS = (
    District("330102", "上城区", Point(30.2425, 120.1693), 4.0, 0.16),
    District("330105", "拱墅区", Point(30.3195, 120.1420), 4.5, 0.16),
    District("330106", "西湖区", Point(30.2594, 120.1300), 5.5, 0.15),
    District("330108", "滨江区", Point(30.2084, 120.2119), 4.0, 0.10),
    District("330109", "萧山区", Point(30.1625, 120.2645), 7.0, 0.15),
    District("330110", "余杭区", Point(30.2733, 119.9790), 7.0, 0.10),
    District("330113", "临平区", Point(30.4190, 120.3000), 6.0, 0.10),
    District("330114", "钱塘区", Point(30.3230, 120.4930), 6.0, 0.08),
)



@dataclass(frozen=True, slots=True)
class Locale:
    """The names a city's parties are founded with."""

    city: str  # as its firms and addresses start: 杭州
    companies: tuple[str, ...]  # the first gas companies' names; more are <city><字号>燃气有限公司
    inspection: str  # the special-equipment inspection institute whose stations inspect cylinders
    plate: str  # the province character and city letter of its plates (GA 36-2018)


HANGZHOU = Locale("杭州", ("杭州燃气集团有限公司", "浙江能源液化气有限公司", "钱塘液化石油气有限公司",
                           "萧山华鑫燃气有限公司", "余杭天然燃气有限公司", "滨江燃气供应有限公司"),
                  "杭州市特种设备检测研究院", "浙A")

# Where a cloned label turns up: over 100 km from the city centre, so no truck gets there in an hour.
FAR_CITIES = (
    Point(31.2304, 121.4737),  # Shanghai
    Point(29.8683, 121.5440),  # Ningbo
    Point(29.4747, 119.2815),  # Jiande
    Point(29.6095, 119.0420),  # Chun'an
    Point(32.0603, 118.7969),  # Nanjing
)

MANUFACTURERS = (
    "浙江金盾压力容器有限公司",
    "宁波钢瓶制造厂",
    "江苏民生重工有限公司",
    "山东华宸压力容器集团有限公司",
    "安徽春辉气瓶有限公司",
)

_EARTH_KM = 6371.0088
_SURNAMES = tuple(_People.last_names)
_SURNAME_WEIGHTS = tuple(_People.last_names.values())
_GIVEN = tuple(_People.first_names)
_TRADE_CHARACTERS = "华鑫瑞安盛泰恒通达丰源宏利嘉兴隆昌顺诚信"
# Real roads of each district (by region code), where its shops, stations and households are.
_ROADS = {
    "330102": ("解放路", "庆春路", "建国北路", "中山中路", "凤起东路", "秋涛路"),
    "330105": ("莫干山路", "湖墅南路", "上塘路", "大关路", "丽水路"),
    "330106": ("文一西路", "天目山路", "古墩路", "学院路", "文三路", "留下路"),
    "330108": ("滨盛路", "江南大道", "东信大道", "长河路", "江晖路"),
    "330109": ("市心路", "金城路", "山阴路", "人民路", "通惠路"),
    "330110": ("文一西路", "良睦路", "五常大道", "余杭塘路", "仓前街"),
    "330113": ("迎宾路", "人民大道", "星桥街", "藕花洲大街", "荷禹路"),
    "330114": ("学林街", "文泽路", "金沙大道", "义蓬街", "青六路"),
    # the province demo's other cities: 绍兴, 宁波
    "330602": ("解放北路", "中兴中路", "胜利东路", "环城西路", "延安路"),
    "330603": ("笛扬路", "鉴湖路", "群贤中路", "金柯桥大道"),
    "330604": ("市民大道", "人民大道", "江扬路"),
    "330203": ("中山西路", "解放南路", "药行街", "镇明路"),
    "330205": ("人民路", "大庆南路", "槐树路"),
    "330212": ("四明中路", "天童南路", "钱湖北路", "鄞县大道"),
}


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
    """A Chinese name: a surname drawn by how common it is, then a given name (one or two characters)."""
    return rng.choices(_SURNAMES, weights=_SURNAME_WEIGHTS)[0] + rng.choice(_GIVEN)


def trade_name(rng: random.Random) -> str:
    """A firm's two-character trade name (字号), as in 杭州<字号>燃气有限公司."""
    first, second = rng.sample(_TRADE_CHARACTERS, 2)
    return first + second


def street_address(rng: random.Random, district: District, city: str = HANGZHOU.city) -> str:
    road = rng.choice(_ROADS.get(district.region, ("中山路",)))
    return (f"{city}市{district.name}{road}{rng.randint(1, 980)}号"
            f"{rng.randint(1, 30)}幢{rng.randint(1, 28)}{rng.randint(1, 4):02d}室")


def phone_number(rng: random.Random) -> str:
    return f"1{rng.choice('3589')}{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}"


def plate(rng: random.Random, prefix: str = HANGZHOU.plate) -> str:
    """A truck plate of the city ``prefix`` names (Hangzhou's 浙A): five characters, a letter then four letters
    or digits, e.g. ``浙A·D3K21`` (GA 36-2018; the letters I and O are not used)."""
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    tail = "".join(rng.choice("0123456789" + letters) for _ in range(3))
    return f"{prefix}·{rng.choice(letters)}{tail}{rng.randint(0, 9)}"
