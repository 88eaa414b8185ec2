"""The pages' two languages: Chinese first, English on request.

The language is ``?lang=en`` (or ``zh``) on any page, remembered in the
``lang`` cookie; without either, pages are in Chinese. Every string comes from
the one table in ``strings.STRINGS``; values the ledger names (states, event
kinds, finding kinds, ...) are looked up as ``<group>.<value>`` and fall back to
the value itself, so a kind the core adds later still shows, untranslated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone

from starlette.requests import Request

from .evidence import break_detail, describe
from .strings import STRINGS

__all__ = ["LANGUAGES", "COOKIE", "language", "Translator"]

LANGUAGES = ("zh", "en")
COOKIE = "lang"
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z")
_IDENTIFIER = re.compile(r"\b[A-Z][A-Z0-9]{5,63}\b")
# Papers and the city keep China Standard Time (docs/custody.md, RulesConfig.local_offset).
LOCAL = timezone(timedelta(hours=8))


def language(request: Request) -> str:
    """The language of this answer: the query, then the cookie, then Chinese."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    kept = request.cookies.get(COOKIE)
    return kept if kept in LANGUAGES else "zh"


class Translator:
    """``t("key", n=3)``: the string for ``key`` in this language, with ``{n}`` filled in."""

    def __init__(self, lang: str) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"no language {lang!r}")
        self.lang = lang
        self._column = LANGUAGES.index(lang)

    @property
    def html_lang(self) -> str:
        return "zh-CN" if self.lang == "zh" else "en"

    def __call__(self, key: str, **values: object) -> str:
        text = STRINGS[key][self._column]  # a missing key is a bug the page tests catch
        return text.format(**values) if values else text

    def term(self, group: str, value: object) -> str:
        """A value the ledger names, e.g. ``term("state", "at_shop")``."""
        if value is None:
            return "—"
        entry = STRINGS.get(f"{group}.{value}")
        return entry[self._column] if entry else str(value)

    def when(self, value: object) -> str:
        """A ledger time (UTC text or datetime) as local wall-clock time, to the minute."""
        moment = _moment(value)
        return "—" if moment is None else moment.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")

    def note(self, text: str | None, names: Mapping[str, str]) -> str:
        """A note the ledger wrote (in English, with ids and UTC times) made readable: names and local times."""
        if not text:
            return ""
        text = _TIME.sub(lambda match: self.when(match.group()), text)
        return _IDENTIFIER.sub(lambda match: names.get(match.group(), match.group()), text)

    def said(self, item: Mapping[str, object], names: Mapping[str, str]) -> str:
        """What a finding or one of its steps says: its evidence told in this language
        (``evidence.describe``), else its stored note made readable (rows from before evidence)."""
        told = describe(item.get("evidence"), self, names)
        return told if told is not None else self.note(item.get("note"), names)  # type: ignore[arg-type]

    def detail(self, text: str | None) -> str:
        """A chain break's detail in this language (``evidence.break_detail``)."""
        return break_detail(text, self.lang)

    def day(self, value: object) -> str:
        if value is None:
            return "—"
        if isinstance(value, datetime):
            return value.astimezone(LOCAL).date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        moment = _moment(value)
        return str(value)[:10] if moment is None else moment.astimezone(LOCAL).date().isoformat()


def _moment(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def local_today() -> date:
    return datetime.now(LOCAL).date()
