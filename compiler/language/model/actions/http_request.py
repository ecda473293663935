"""Parameters of ``http_request``: one HTTP call; URL and headers are checked here, addresses at run time."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from compiler.language.model.actions.base import ActionParameters, ActionSpec
from compiler.language.model.base import RequestableUrl, checked
from compiler.language.urls import header_problem

__all__ = ["SPEC", "HttpRequestParameters"]

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _status_exists(value: int) -> int:
    if not 100 <= value <= 599:
        raise ValueError(f"HTTP status {value} does not exist; statuses are 100 to 599")
    return value


# Per item, so each problem points at its own header or status.
_HeaderName = Annotated[str, checked(lambda name: header_problem(name, ""))]
_HeaderValue = Annotated[str, checked(lambda value: header_problem("value", value))]
_Status = Annotated[int, AfterValidator(_status_exists)]


class HttpRequestParameters(ActionParameters):
    url: RequestableUrl = Field(min_length=1, description="http(s) URL; may use templates.")
    method: Method = Field(default="GET", description="HTTP method.")
    headers: dict[_HeaderName, _HeaderValue] = Field(
        default_factory=dict, description="Headers; use {secret:NAME} for tokens."
    )
    params: dict[str, str | int | float | bool] = Field(default_factory=dict, description="Query parameters.")
    json_body: Any = Field(default=None, alias="json", description="JSON body.")
    body: Any = Field(default=None, description="Body: text is sent as is, a mapping or list as JSON.")
    expected_status: list[_Status] | None = Field(
        default=None, description="Statuses that count as success; default any 2xx/3xx."
    )
    follow_redirects: bool = Field(default=True, description="Follow up to 5 redirects (each one is checked).")

    model_config = ConfigDict(populate_by_name=True)

    def urls(self) -> list[tuple[tuple[str | int, ...], str]]:
        """URLs this action requests, by location in its parameters (for the address checks of validate)."""
        return [(("url",), self.url)]

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequestParameters:
        if self.json_body is not None and self.body is not None:
            raise ValueError("give either json or body, not both")
        return self


SPEC = ActionSpec("http_request", "Make an HTTP request.", HttpRequestParameters)
