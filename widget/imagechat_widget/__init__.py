"""ImageChat's widget. `state`, `backoff`, `timefmt` and `messages` are pure Python (unit-tested on CPython);
the other modules are the thin browser layer run by PyScript."""
