"""The aggregate state of the issue, computed independently of the server: the fold of a stream's
events in version order over their `data` objects — each field set to its latest value, `null`
removes it, string (opaque) data leaves the state unchanged."""


def fold(events):
    state = {}
    for e in events:
        if isinstance(e["data"], str):
            continue
        for k, v in e["data"].items():
            if v is None:
                state.pop(k, None)
            else:
                state[k] = v
    return state
