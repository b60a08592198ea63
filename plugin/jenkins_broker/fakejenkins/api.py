"""The remote API flavours of an exported bean: ``api/json``, ``api/xml``, ``api/python``.

Emulates ``hudson.model.Api`` (docs/jenkins-behaviour.md §3.1, §5, §6):
``?tree=`` pruning, ``?jsonp=`` refused with 403, ``?xpath=``/``?wrapper=`` on XML with text results
refused, and ``CrumbIssuer.RestrictedApi``'s four whitelisted XPath strings.
Beans are plain dicts whose first key is ``_class``; properties follow in
alphabetical order, as Stapler writes them.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from werkzeug.wrappers import Response

FLAVORS = ("json", "xml", "python")

_WRAPPER_NAME = re.compile(r"^[a-zA-Z_][\w.-]*$")
_STEP = re.compile(r"(//?)([^/]+)")
_NAME = re.compile(r"\*|[A-Za-z_][\w.-]*")
_FUNCTION = re.compile(r"^\s*[A-Za-z-]+\s*\(")
PRIMITIVE_XPATH = ("primitive XPath result sets forbidden; "
                   "implement jenkins.security.SecureRequester")


def parse_tree(text: str) -> dict:
    """Parse ``a,b[c,d]{0,5}`` into ``{"a": None, "b": {"c": None, "d": None}}``."""
    pos = 0

    def parse_list() -> dict:
        nonlocal pos
        result: dict = {}
        while pos < len(text):
            start = pos
            while pos < len(text) and text[pos] not in ",[]{":
                pos += 1
            name = text[start:pos].strip()
            sub = None
            if pos < len(text) and text[pos] == "[":
                pos += 1
                sub = parse_list()
                if pos < len(text) and text[pos] == "]":
                    pos += 1
            if pos < len(text) and text[pos] == "{":
                end = text.find("}", pos)
                pos = len(text) if end < 0 else end + 1
            if name:
                result[name] = sub
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            break
        return result

    return parse_list()


def prune(value, spec: dict):
    """Keep ``_class`` and the properties named by ``spec`` (a parsed ``tree``)."""
    if isinstance(value, dict):
        return {k: (v if k == "_class" else prune(v, spec[k] or {}))
                for k, v in value.items() if k == "_class" or k in spec}
    if isinstance(value, list):
        return [prune(item, spec) for item in value]
    return value


def to_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def to_python(value) -> str:
    """Stapler's Python flavour: JSON syntax with True/False/None literals."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return "None"
    if isinstance(value, dict):
        return "{" + ",".join(f"{to_json(str(k))}:{to_python(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_python(v) for v in value) + "]"
    return to_json(value)


def singular(name: str) -> str:
    """Stapler's XMLDataWriter.toSingular: the element name of an array's items."""
    return re.sub(r"s$", "", re.sub(r"ies$", "y", name, count=1), count=1)


def to_element(tag: str, value) -> ET.Element:
    """Stapler's XML flavour: ``_class`` as attribute, lists as repeated elements named in
    the singular (``authorities`` gives ``<authority>`` items)."""
    element = ET.Element(tag)
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "_class":
                element.set("_class", str(item))
            elif isinstance(item, list):
                element.extend(to_element(singular(key), entry) for entry in item
                               if entry is not None)
            elif item is not None:
                element.append(to_element(key, item))
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value)
    return element


def select(root: ET.Element, path: str) -> list[ET.Element]:
    """Evaluate a location path of ``/name``, ``//name`` and ``*`` steps (ValueError if other)."""
    steps = _STEP.findall(path)
    if not path.startswith("/") or "".join(a + b for a, b in steps) != path:
        raise ValueError(path)
    nodes: list = [None]                     # None stands for the document node
    for axis, name in steps:
        if not _NAME.fullmatch(name):
            raise ValueError(path)
        found: list[ET.Element] = []
        for node in nodes:
            if node is None:
                candidates = [root] if axis == "/" else list(root.iter())
            else:
                candidates = list(node) if axis == "/" else list(node.iter())[1:]
            for candidate in candidates:
                if (name == "*" or candidate.tag == name) and not any(
                        candidate is f for f in found):
                    found.append(candidate)
        nodes = found
    return nodes


def crumb_xpath_text(xpath: str | None, field: str, crumb: str) -> str | None:
    """The text CrumbIssuer.RestrictedApi serves for its four exact XPath strings, else None."""
    if xpath == "/*/crumbRequestField/text()":
        return field
    if xpath == "/*/crumb/text()":
        return crumb
    if xpath == 'concat(//crumbRequestField,":",//crumb)':
        return f"{field}:{crumb}"
    if xpath == "concat(//crumbRequestField,'=',//crumb)":
        if field.startswith(".") or "-" in field:
            return f"{field}={crumb}"
    return None


def _plain(status: int, text: str) -> Response:
    return Response(text.encode("utf-8"), status=status, content_type="text/plain;charset=UTF-8")


def serve(ex, flavor: str, root_tag: str, bean: dict, *, crumb: tuple[str, str] | None = None):
    """Answer ``api/<flavor>`` for ``bean``; ``crumb`` = (field, value) on /crumbIssuer."""
    if flavor in ("json", "python"):
        return _serve_data(ex, flavor, bean)
    return _serve_xml(ex, root_tag, bean, crumb)


def _serve_data(ex, flavor: str, bean: dict):
    """``api/json`` and ``api/python`` (``tree`` applied; JSONP refused)."""
    args = ex.req.args
    if args.get("jsonp") is not None:
        # Api.doJson refuses JSONP with sendError, before setting the Api headers.
        return ex.container(403, "jsonp forbidden; implement jenkins.security.SecureRequester")
    data = prune(bean, parse_tree(args["tree"])) if args.get("tree") else bean
    if flavor == "json":
        response = Response(to_json(data).encode("utf-8"),
                            content_type="application/json;charset=UTF-8")
    else:
        response = Response(to_python(data).encode("utf-8"),
                            content_type="text/x-python;charset=UTF-8")
    return ex.api_headers(response)


def _serve_xml(ex, root_tag: str, bean: dict, crumb: tuple[str, str] | None):
    """``api/xml``: the crumb issuer's exact XPaths, then ``tree``, then ``xpath`` and
    ``wrapper`` as Stapler applies them."""
    args = ex.req.args
    xpath = args.get("xpath")
    if crumb is not None:
        text = crumb_xpath_text(xpath, *crumb)
        if text is not None:
            return ex.api_headers(_plain(200, text))
    data = prune(bean, parse_tree(args["tree"])) if args.get("tree") else bean
    root = to_element(root_tag, data)
    if xpath is None:
        return ex.api_headers(_xml(root))
    return _serve_xpath(ex, root, xpath, args.get("wrapper"))


def _serve_xpath(ex, root: ET.Element, xpath: str, wrapper: str | None):
    """The part of ``root`` that ``xpath`` selects, wrapped in ``wrapper`` if given."""
    if wrapper is not None and not _WRAPPER_NAME.match(wrapper):
        return ex.api_headers(_plain(400, "The wrapper parameter can only contain alphanumeric "
                                          "characters or dash/dot/underscore. The first "
                                          "character has to be a letter or underscore."))
    simple = False
    path = xpath.strip()
    if _FUNCTION.match(path):
        # concat(), count(), string(), ...: always one primitive result.
        return ex.api_headers(ex.container(
            403, PRIMITIVE_XPATH))
    if path.endswith("/text()") or "/@" in path:
        simple = True
        path = path.rsplit("/", 1)[0]
    try:
        matches = select(root, path)
    except ValueError:
        return ex.oops(500)
    if wrapper is not None:
        wrapped = ET.Element(wrapper)
        for match in matches:
            if simple:
                wrapped.text = (wrapped.text or "") + (match.text or "")
            else:
                wrapped.append(match)
        return ex.api_headers(_xml(wrapped))
    if not matches:
        return ex.api_headers(_plain(404, f"XPath {xpath} didn\u2019t match"))
    if len(matches) > 1:
        return ex.api_headers(_plain(500, f'XPath "{xpath}" matched {len(matches)} nodes. '
                                          "Create XPath that only matches one, or use the "
                                          '"wrapper" query parameter to wrap them all under '
                                          "a root element."))
    if simple:
        return ex.api_headers(ex.container(
            403, PRIMITIVE_XPATH))
    return ex.api_headers(_xml(matches[0]))


def _xml(element: ET.Element) -> Response:
    return Response(ET.tostring(element, encoding="unicode").encode("utf-8"),
                    content_type="application/xml;charset=UTF-8")
