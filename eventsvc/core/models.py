"""The organisations table: the package's list of local public bodies and agencies, in the database.

Filled by a data migration from :mod:`eventsvc.core.orgs`, so registrations and
teams can reference (and join on) an organisation by its code.
"""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


class Organization(db.Model):
    __tablename__ = "organizations"

    #: JIS X 0402 code (6 digits) or ``gov-<slug>`` for national agencies
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_kana: Mapped[str] = mapped_column(String(200))
    #: national / prefecture / designated_city / city / town / village
    kind: Mapped[str] = mapped_column(String(20))
    prefecture_code: Mapped[str | None] = mapped_column(String(2), index=True)
    region: Mapped[str | None] = mapped_column(String(20))


def organization_rows() -> list[dict]:
    """Rows for the table, from the package data."""
    from . import orgs

    return [
        {"code": o.code, "name": o.name, "name_kana": o.name_kana, "kind": o.kind,
         "prefecture_code": o.prefecture_code, "region": o.region}
        for o in orgs.all_organizations()
    ]
