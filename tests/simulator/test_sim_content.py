"""Generated JSON satisfies the schemas Pydantic and the SDK's strict mode produce."""

from __future__ import annotations

import datetime
import decimal
import json
import random
import uuid
from typing import Literal

import openai
import pydantic
from tokentrail.simulator.content import instance_for_schema


class Node(pydantic.BaseModel):
    weight: int = pydantic.Field(ge=5, le=9)
    child: Node | None = None


class Everything(pydantic.BaseModel):
    pair: tuple[int, str]
    counts: dict[str, int]
    kind: Literal["x", "y"]
    maybe: Node | None
    nodes: list[Node]
    flag: bool
    amount: decimal.Decimal
    when: datetime.datetime
    day: datetime.date
    uid: uuid.UUID
    name: str = pydantic.Field(min_length=3, max_length=5)
    score: float = pydantic.Field(gt=0, lt=1)


def test_instances_validate_against_a_demanding_pydantic_schema() -> None:
    schema = Everything.model_json_schema()
    for seed in range(200):
        value = instance_for_schema(schema, random.Random(seed))
        Everything.model_validate_json(json.dumps(value))


class Strict(pydantic.BaseModel):
    kind: Literal["a", "b", "c"]
    maybe: Node | None
    nodes: list[Node]
    when: datetime.datetime
    score: float = pydantic.Field(gt=0, lt=1)


def test_parse_with_the_sdk_strict_schema(client: openai.OpenAI) -> None:
    for i in range(5):
        r = client.chat.completions.parse(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"case {i}"}], response_format=Strict
        )
        assert isinstance(r.choices[0].message.parsed, Strict)
