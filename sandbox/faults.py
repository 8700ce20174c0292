"""Faults the sandbox can inject, switchable from any thread while it serves."""

from __future__ import annotations

import threading
from typing import Any, overload


class _Counter:
    """A Faults attribute holding how many more times a fault fires."""

    name = ""

    def __set_name__(self, owner: type[Faults], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type[Faults]) -> _Counter: ...

    @overload
    def __get__(self, instance: Faults, owner: type[Faults]) -> int: ...

    def __get__(self, instance: Faults | None, owner: type[Faults]) -> _Counter | int:
        if instance is None:
            return self
        with instance._lock:
            return instance._counts[self.name]

    def __set__(self, instance: Faults, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{self.name} must be a whole number >= 0, got {value!r}")
        with instance._lock:
            instance._counts[self.name] = value


class _Seconds:
    """A Faults attribute holding a duration in seconds."""

    name = ""

    def __set_name__(self, owner: type[Faults], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type[Faults]) -> _Seconds: ...

    @overload
    def __get__(self, instance: Faults, owner: type[Faults]) -> float: ...

    def __get__(self, instance: Faults | None, owner: type[Faults]) -> _Seconds | float:
        if instance is None:
            return self
        with instance._lock:
            return instance._seconds[self.name]

    def __set__(self, instance: Faults, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(
                f"{self.name} must be a number of seconds >= 0, got {value!r}"
            )
        with instance._lock:
            instance._seconds[self.name] = float(value)


class Faults:
    """Faults to inject into replies. Every attribute can be set from any thread.

    Each counter is the number of times its fault still fires, and goes down by one
    each time it does. A "call" is a signed request under /v2/ that carries a nonce.
    Requests that fetch a nonce are left alone unless `hit_nonce_requests` is True.

    Durations, in seconds:

    - `latency`: added before every reply, downloads and nonce replies included.
    - `nonce_lag`: a nonce younger than this is rejected with 401 "Unknown nonce" and
      stays unused, like a nonce store that has not caught up. Elucidat's Node client
      waits 500 ms for this reason. A client should retry with a new nonce.
    - `retry_after`: the `Retry-After` header sent with `rate_limit` replies (whole
      seconds, rounded up).

    Counters:

    - `rate_limit`: the next N calls get 429 with `Retry-After` and a JSON message.
    - `server_error`: the next N calls get 500 with an HTML page.
    - `not_json`: the next N calls get 200 with an HTML body, as a captive portal or
      a misrouted proxy would send.
    - `reject_auth`: the next N calls whose signature is valid get 401 anyway. Their
      nonce is used up.
    - `drop_after_create`: the next N successful `releases/create` calls (simulation
      included) are carried out, then the connection is closed without a reply. The
      release exists, so the client must report the outcome as unknown.
    - `truncate_download`: the next N package downloads send their headers and half
      the body, then close the connection.

    The counters and checks run in this order for a call: latency, rate_limit,
    server_error, not_json, authentication (with nonce_lag), reject_auth, the endpoint,
    drop_after_create.
    """

    rate_limit = _Counter()
    server_error = _Counter()
    not_json = _Counter()
    reject_auth = _Counter()
    drop_after_create = _Counter()
    truncate_download = _Counter()

    latency = _Seconds()
    nonce_lag = _Seconds()
    retry_after = _Seconds()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._seconds: dict[str, float] = {}
        self._hit_nonce_requests = False
        self.reset()

    @property
    def hit_nonce_requests(self) -> bool:
        """Whether rate_limit, server_error and not_json also hit nonce requests."""
        with self._lock:
            return self._hit_nonce_requests

    @hit_nonce_requests.setter
    def hit_nonce_requests(self, value: bool) -> None:
        with self._lock:
            self._hit_nonce_requests = bool(value)

    def take(self, name: str) -> bool:
        """Fire the counter `name` if it is above zero: decrement it and return True."""
        with self._lock:
            remaining = self._counts[name]
            if remaining <= 0:
                return False
            self._counts[name] = remaining - 1
            return True

    def reset(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self._counts = dict.fromkeys(self.counter_names(), 0)
            self._seconds = {"latency": 0.0, "nonce_lag": 0.0, "retry_after": 1.0}
            self._hit_nonce_requests = False

    def snapshot(self) -> dict[str, Any]:
        """Return the current settings as a plain dict."""
        with self._lock:
            return {
                **self._counts,
                **self._seconds,
                "hit_nonce_requests": self._hit_nonce_requests,
            }

    @classmethod
    def counter_names(cls) -> list[str]:
        return [
            name for name, value in vars(cls).items() if isinstance(value, _Counter)
        ]
