"""errors.py: the exception tree drawn in its docstring is the tree there is; rewording an error
keeps what every front door answers it with."""

import importlib
import pkgutil
import re

import jenkins_broker
from jenkins_broker import errors


def _drawn() -> dict[str, tuple[str | None, str | None]]:
    """``{class name: (parent name, module noted)}`` as the docstring draws them."""
    block = errors.__doc__.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    found: dict[str, tuple[str | None, str | None]] = {}
    parents: list[str] = []
    for line in block.splitlines():
        match = re.match(r"^ {4}((?:[│ ]   )*)(?:[├└]── )?([A-Z]\w+)(?:\s+\((\w[\w.]*)\))?", line)
        if not match:
            continue  # a description carried over to the next line
        depth = len(match.group(1)) // 4 + (1 if "── " in line else 0)
        del parents[depth:]
        found[match.group(2)] = (parents[-1] if parents else None, match.group(3))
        parents.append(match.group(2))
    return found


def _every_broker_error() -> list[type[errors.BrokerError]]:
    for module in pkgutil.walk_packages(jenkins_broker.__path__, "jenkins_broker."):
        try:
            importlib.import_module(module.name)
        except ImportError:  # an extra that is not installed (the plugin's gRPC)
            continue
    out, todo = [], [errors.BrokerError]
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo += cls.__subclasses__()
    return out


def test_the_drawing_shows_every_error_class_under_its_parent():
    drawn = _drawn()
    classes = _every_broker_error()
    for cls in classes:
        assert cls.__name__ in drawn, f"{cls.__module__}.{cls.__name__} is not in errors.py's drawing"
        parent, noted = drawn[cls.__name__]
        expected = None if cls is errors.BrokerError else cls.__bases__[0].__name__
        assert parent == expected, f"{cls.__name__} is drawn under {parent}, its parent is {expected}"
        where = cls.__module__.removeprefix("jenkins_broker.")
        assert noted == (None if where == "errors" else where), cls.__name__
    assert set(drawn) == {cls.__name__ for cls in classes}, "the drawing shows a class that does not exist"
    in_module = {name for name, obj in vars(errors).items() if isinstance(obj, type) and
                 issubclass(obj, BaseException) and obj.__module__ == errors.__name__}
    assert in_module <= set(drawn)


def test_a_reworded_error_is_the_same_error_saying_more():
    from jenkins_broker.domain.roles import InvalidRole
    timeout = errors.JenkinsTimeout("read timed out", url="https://j.example.com/", user="ci-bot", status=None)
    again = errors.reworded(timeout, f"minting a token for role 'r' failed: {timeout}")
    assert type(again) is errors.JenkinsTimeout and str(again).endswith("failed: read timed out")
    assert (again.url, again.user, again.status) == (timeout.url, timeout.user, timeout.status)
    role = errors.reworded(InvalidRole("ttl", "must be at least 1s"), "role 'r': ttl: must be at least 1s")
    assert type(role) is InvalidRole and role.field == "ttl"
