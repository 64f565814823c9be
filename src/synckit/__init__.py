"""synckit: the shared toolkit behind every connector. No vendor knowledge lives here."""

# requests types re-exported so connector folders need not import requests themselves (an import the
# SDK's dependency scan cannot resolve offline).
from requests import PreparedRequest, Response
from requests.auth import AuthBase, HTTPBasicAuth

from .auth import ApiKeyHeader, BearerToken, RefreshingToken
from .budget import RateLimiter
from .config import Field, parse
from .deletes import DeleteFeed, DeletePolicy, DeleteSafetyError, Reconcile, Snapshot
from .errors import (
    ApiError,
    AuthError,
    BudgetExhausted,
    ConfigError,
    OriginError,
    PagingError,
    ResponseError,
    RetriesExhausted,
    SyncError,
)
from .http import Http
from .keyset import KeySet
from .paging import LinkHeader, Offset, Page, PageNumber, close, parallel_page_numbers, prefetch
from .policy import Backoff
from .records import typed
from .sink import FivetranSink, MemorySink
from .sync import sync_table, sync_tables
from .table import READS, Child, Table, Window, schema_of

__all__ = [
    "AuthBase", "HTTPBasicAuth", "PreparedRequest", "Response",
    "READS", "Child", "DeleteFeed", "DeletePolicy", "DeleteSafetyError", "KeySet", "Reconcile", "Snapshot",
    "schema_of", "typed",
    "ApiError", "ApiKeyHeader", "AuthError", "Backoff", "BearerToken", "BudgetExhausted", "ConfigError",
    "Field", "FivetranSink", "Http", "LinkHeader", "MemorySink", "Offset", "OriginError", "Page", "PageNumber",
    "PagingError", "RateLimiter", "RefreshingToken", "ResponseError", "RetriesExhausted", "SyncError",
    "Table", "Window", "close", "parallel_page_numbers", "prefetch", "parse", "sync_table", "sync_tables",
]
