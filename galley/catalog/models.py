from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from galley.db import Base, BigId, UTCDateTime, utcnow


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_amount >= 0", name="price_not_negative"),
        CheckConstraint("length(price_currency) = 3", name="price_currency_iso"),
        CheckConstraint("length(sku) >= 1", name="sku_not_empty"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    price_amount: Mapped[int] = mapped_column(BigInteger)
    price_currency: Mapped[str] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
