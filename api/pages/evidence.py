"""What a finding says, in the reader's language, from the evidence the rules stored with it.

The rules store each finding's evidence as ``{"code": ..., parameters}``
(ledger/rules, ledger/supervision.py). Here each code has a sentence in Chinese
and in English; parameters are shown as a reader knows them: parties and people
by name, times in local wall-clock time, states, event kinds and outcomes by
their names in the language. A code this table does not know, or a row stored
before evidence was kept, shows its stored English note, made readable
(``Translator.note``). docs/regulator.md lists the codes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["SENTENCES", "describe", "break_detail"]

# code -> (中文, English); ``{name}`` is a parameter as ``_shown`` makes it readable.
SENTENCES: dict[str, tuple[str, str]] = {
    "vanished": ("气瓶在{holder}处（{state}）自{since}起{days}天没有任何记录，至今未见",
                 "No event for {days} days while {state} with {holder}, from {since} up to now"),
    "vanished.until": ("气瓶在{holder}处（{state}）从{since}到{until}共{days}天没有任何记录",
                       "No event for {days} days while {state} with {holder}, from {since} until {until}"),
    "impossible_movement": ("{party}于{at}的“{kind}”与{before_party}于{before_at}的“{before_kind}”相距{km}公里，"
                            "折合时速{kmh}公里",
                            "{kind} by {party} at {at} is {km} km from {before_kind} by {before_party} at "
                            "{before_at}: {kmh} km/h"),
    "jump_unconfirmed": ("{party}于{at}进行了“{kind}”，但没有确认接收{holder}交来的气瓶",
                         "{party} recorded {kind} at {at} without confirming the handover from {holder}"),
    "jump_no_handover": ("{party}于{at}进行了“{kind}”，但没有任何一方把气瓶交给它；此前的持有方是{holder}",
                         "{party} recorded {kind} at {at} though nobody handed the cylinder over; "
                         "the last recorded holder was {holder}"),
    "handover_open": ("{sender}于{at}交给{receiver}的气瓶（交接记录 {seq}）超过{hours}小时仍未确认接收",
                      "Handover (seq {seq}) from {sender} to {receiver} at {at} not confirmed after {hours} h"),
    "handover_late": ("{sender}于{at}交给{receiver}的气瓶（交接记录 {seq}）直到{closed_at}才确认接收，超过{hours}小时",
                      "Handover (seq {seq}) from {sender} to {receiver} at {at} confirmed only at {closed_at}, "
                      "later than {hours} h"),
    "handover_then": ("{sender}于{at}交给{receiver}的气瓶（交接记录 {seq}）超过{hours}小时未确认，"
                      "之后{outcome}（记录 {closed_by}）",
                      "Handover (seq {seq}) from {sender} to {receiver} at {at} left unconfirmed for more than "
                      "{hours} h, then {outcome} (seq {closed_by})"),
    "after_scrap": ("{party}于{at}进行了“{kind}”，而该气瓶已于{scrapped_at}由{scrapped_by}报废",
                    "{kind} by {party} at {at}, after the cylinder was scrapped by {scrapped_by} at {scrapped_at}"),
    "fill_after_failed": ("{party}于{day}充装了该气瓶，而它上次定期检验不合格",
                          "{party} filled the cylinder on {day} after it failed its last inspection"),
    "fill_overdue": ("{party}于{day}充装了该气瓶，其定期检验已于{due}到期",
                     "{party} filled the cylinder on {day}; its inspection was due {due}"),
    "fill_past_last_day": ("{party}于{day}充装了该气瓶，已超过最后允许使用日{last_day}，应予报废",
                           "{party} filled the cylinder on {day}, past its last permitted day {last_day}: "
                           "it must be scrapped"),
    "fill_past_design_life": ("{party}于{day}充装了该气瓶，其设计使用年限已于{end}届满，且没有到期检验合格予以延期",
                              "{party} filled the cylinder on {day}; its design life ended {end} and no passed "
                              "end-of-life inspection extended it"),
    "non_owner_fill": ("{party}（隶属{company}）充装了产权属于{owner}的气瓶",
                       "{party} (of {company}) filled a cylinder owned by {owner}"),
    "overfill": ("{party}向{model}气瓶充装了{kg}千克，允许充装量为{allowed}±{tolerance}千克",
                 "{party} filled {kg} kg into a {model}; allowed {allowed} ± {tolerance} kg"),
    "short_weight": ("{party}于{at}入户称重{kg}千克，{station}充装时为{filled}千克，短少{short}千克",
                     "{party} delivered {kg} kg at {at}; {station} filled {filled} kg: {short} kg short"),
    "unlicensed": ("{party}没有登记证照，在该气瓶的{events}条记录中作业或接收",
                   "{party} has no licence on record; it acted or received in {events} event(s) of this cylinder"),
    "unlicensed.expired": ("{party}的证照{paper}已于{expired}过期，在该气瓶的{events}条记录中作业或接收",
                           "{party}'s licence {paper} expired {expired}; it acted or received in {events} "
                           "event(s) of this cylinder"),
    "certificate": ("{role}{person}没有从业资格证记录（{events}条运输记录）",
                    "{role} {person} has no certificate on record ({events} trip event(s))"),
    "certificate.unregistered": ("{role}{person}未在平台登记，没有从业资格证记录（{events}条运输记录）",
                                 "{role} {person} is not registered, so has no certificate on record "
                                 "({events} trip event(s))"),
    "certificate.expired": ("{role}{person}的从业资格证{paper}已于{expired}过期（{events}条运输记录）",
                            "{role} {person}'s certificate {paper} expired {expired} ({events} trip event(s))"),
    "missing_escort": ("{party}交给{to}的“{kind}”（记录 {seq}）{why}", "{kind} (seq {seq}) by {party} to {to} {why}"),
    "citizen_report": ("市民通过公开页面反映：{category}，附照片 {photos} 张", "A citizen reported: {category}, with {photos} photos"),
    "citizen_report_folded": ("又一位市民反映同一问题：{category}，附照片 {photos} 张",
                              "Another citizen reported the same: {category}, with {photos} photos"),
    "unregistered_scan": ("{party}于{at}扫描了编码{cylinder}（{kind}），平台从未发放这个编码",
                          "{party} scanned {cylinder} ({kind}, {at}), a code the platform never issued"),
    "unsafe_installation": ("{party}于{at}向用户{to}送气时入户安检不合格：{items}",
                            "The safety check of {party}'s delivery to user {to} at {at} failed: {items}"),
    "delivered_despite_hazard": ("{party}于{at}向用户{to}送气，入户安检发现严重隐患（{items}）仍然供气",
                                 "{party} delivered to user {to} at {at} although the safety check found a "
                                 "critical hazard: {items}"),
    "rechecked": ("{party}于{at}再次送气时复查，原不合格项均已整改：{items}",
                  "Re-checked by {party} at {at} on the next delivery: every failed item is now ok ({items})"),
    "explained": ("已由{party}的“{kind}”（记录 {seq}）解释：发生于{occurred_at}，记录于{recorded_at}{late}",
                  "explained by {kind} (seq {seq}) by {party}, which occurred {occurred_at} and was recorded "
                  "{recorded_at}{late}"),
    "no_longer_implied": ("按气瓶现有记录和登记信息，已不再构成问题",
                          "no longer implied by the cylinder's history and the registry as they stand now"),
    "implied_again": ("记录再次表明存在问题：{finding}", "implied again by the history: {finding}"),
}

# Words inside sentences: crew lapses, handover outcomes, roles, a late record.
WORDS: dict[str, tuple[str, str]] = {
    "why.no_escort": ("未登记押运员", "names no escort"),
    "why.no_driver": ("未登记驾驶员", "names no driver"),
    "why.same_person": ("把{person}同时登记为驾驶员和押运员", "names {person} as both driver and escort"),
    "why.no_crew": ("未登记车辆和人员，运输企业接收该气瓶时的运输也未登记",
                    "names no crew, and the transporter received the cylinder on no trip that named one"),
    "why.continues": ("延续记录 {trip} 的运输，而那次运输{then}", "continues the trip of seq {trip}, which {then}"),
    "outcome.received": ("才确认接收", "received"),
    "outcome.superseded": ("被另一次交接取代", "superseded"),
    "outcome.cancelled": ("被撤回", "cancelled"),
    "outcome.taken": ("被他方取走", "taken"),
    "role.driver": ("驾驶员", "driver"),
    "role.escort": ("押运员", "escort"),
    "late": ("，为离线后补录", ", recorded late"),
    "no_company": ("无所属企业", "no company"),
}

_NAMED = frozenset({"party", "holder", "sender", "receiver", "station", "owner", "scrapped_by", "before_party", "to",
                    "person"})
_TIMES = frozenset({"at", "since", "until", "closed_at", "scrapped_at", "before_at", "occurred_at", "recorded_at"})
_KINDS = frozenset({"kind", "before_kind"})


def describe(evidence: Any, t, names: Mapping[str, str]) -> str | None:
    """The sentence for ``evidence`` in ``t``'s language, or None when it cannot be told (unknown code)."""
    if not isinstance(evidence, Mapping):
        return None
    key = _variant(evidence)
    if key not in SENTENCES:
        return None
    column = 0 if t.lang == "zh" else 1
    values = {name: _shown(name, value, evidence, t, names, column) for name, value in evidence.items()}
    try:
        return SENTENCES[key][column].format_map(_Blank(values))
    except (ValueError, TypeError):
        return None


def _variant(evidence: Mapping[str, Any]) -> str:
    code = evidence.get("code")
    if code == "vanished" and evidence.get("until"):
        return "vanished.until"
    if code == "unlicensed" and evidence.get("expired"):
        return "unlicensed.expired"
    if code == "certificate":
        if evidence.get("registered") is False:
            return "certificate.unregistered"
        if evidence.get("expired"):
            return "certificate.expired"
    return str(code)


def _word(key: str, column: int, **values: object) -> str:
    entry = WORDS.get(key)
    return entry[column].format_map(_Blank(values)) if entry else key


def _shown(name: str, value: Any, evidence: Mapping[str, Any], t, names: Mapping[str, str], column: int) -> str:
    if name == "company":
        return names.get(value, value) if value else _word("no_company", column)
    if value is None:
        return "—"
    if name in _NAMED:
        return names.get(value, value)
    if name in _TIMES:
        return t.when(value)
    if name in _KINDS:
        return t.term("kind", value)
    if name == "state":
        return t.term("state", value)
    if name == "category":
        return t.term("category", value)
    if name == "role":
        return _word(f"role.{value}", column)
    if name == "outcome":
        return _word(f"outcome.{value}", column)
    if name == "late":
        return _word("late", column) if value else ""
    if name == "why":
        then = evidence.get("then")
        then_text = _shown("why", then.get("why"), then, t, names, column) if isinstance(then, Mapping) else "—"
        person = names.get(evidence.get("person"), evidence.get("person") or "—")
        return _word(f"why.{value}", column, person=person, trip=evidence.get("trip"), then=then_text)
    if name == "finding":
        return describe(value, t, names) or "—"
    if name == "items" and isinstance(value, list):  # a safety check's items as [code, 中文, English]
        return ("、" if column == 0 else ", ").join(
            str(item[1 + column]) if isinstance(item, list) and len(item) == 3 else str(item) for item in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# What the chain check (ledger/chain.py) says of a break, in both languages; others show as written.
BREAKS: tuple[tuple[re.Pattern[str], tuple[str, str]], ...] = (
    (re.compile(r"expected seq (\d+)"), ("此处应为第 {0} 条记录（序号 {0}）", "expected seq {0}")),
    (re.compile(r"the event does not link to the one before"),
     ("这条记录与前一条记录的哈希链接不上", "the event does not link to the one before")),
    (re.compile(r"the stored event does not match its hash"),
     ("存储的记录与其哈希值不符：记录被改动过", "the stored event does not match its hash")),
)


def break_detail(text: str | None, lang: str) -> str:
    """A chain break's detail in ``lang`` when the check wrote one of its known sentences."""
    if not text:
        return ""
    for pattern, sentences in BREAKS:
        match = pattern.fullmatch(text)
        if match:
            return sentences[0 if lang == "zh" else 1].format(*match.groups())
    return text


class _Blank(dict):
    """A parameter missing from old evidence shows as a dash, not as an error."""

    def __missing__(self, key: str) -> str:
        return "—"
