"""synckit: the shared toolkit behind every connector. No vendor knowledge lives here."""

from .auth import ApiKeyHeader, BearerToken, RefreshingToken
from .budget import RateLimiter
from .config import Field, parse
from .errors import (
    ApiError,
    AuthError,
    BudgetExhausted,
    ConfigError,
    PagingError,
    ResponseError,
    RetriesExhausted,
    SyncError,
)
from .http import Http
from .paging import LinkHeader, Offset, Page, PageNumber, parallel_page_numbers
from .policy import Backoff
from .sink import FivetranSink, MemorySink
from .sync import sync_table, sync_tables
from .table import Table, Window

__all__ = [
    "ApiError", "ApiKeyHeader", "AuthError", "Backoff", "BearerToken", "BudgetExhausted", "ConfigError",
    "Field", "FivetranSink", "Http", "LinkHeader", "MemorySink", "Offset", "Page", "PageNumber",
    "PagingError", "RateLimiter", "RefreshingToken", "ResponseError", "RetriesExhausted", "SyncError",
    "Table", "Window", "parallel_page_numbers", "parse", "sync_table", "sync_tables",
]
