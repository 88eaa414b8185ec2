"""Which roles open which pages: the same roles the API gives the same powers (docs/pages.md)."""

from __future__ import annotations

from ledger.domain import Role

__all__ = ["OVERSIGHT", "REPORTERS", "HOLDERS", "EVERYONE", "navigation"]

EVERYONE = frozenset(Role)  # the trace page: the API lets every account read cylinders and events
OVERSIGHT = frozenset({Role.ADMIN, Role.REGULATOR, Role.INSPECTOR})  # dashboard, risk lists, cases
REPORTERS = frozenset({Role.REGULATOR, Role.INSPECTOR})  # field reports (api.permissions.KINDS[report])
HOLDERS = frozenset({Role.COMPANY, Role.TRANSPORTER, Role.SHOP, Role.INSPECTION})  # the driver's page


def navigation(role: Role | None) -> list[tuple[str, str]]:
    """The menu of a signed-in role: (path, string key)."""
    if role is None:
        return []
    items = [("/trace", "nav.trace")]
    if role in OVERSIGHT:
        items += [("/dashboard", "nav.dashboard"), ("/risk", "nav.risk"), ("/findings", "nav.findings")]
    if role is Role.INSPECTOR:
        items.append(("/cases/mine", "nav.mine"))  # the inbox; render() adds its count
    if role is Role.REGULATOR:
        items.append(("/personal-views", "nav.views"))  # the record of views of personal data
    if role is Role.ADMIN:
        items.append(("/admin/accounts", "nav.accounts"))
    if role in HOLDERS:
        items.append(("/driver", "nav.driver"))
    return items
