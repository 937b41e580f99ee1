"""Every page's strings use one key style, every language has every key, and every key the pages
use exists: a missing key shows its raw name to the user.

Read from the sources (no browser): the strings modules under web/i18n/, the data-i18n
attributes of web/<page>.html and the t(...) calls of the page's modules. A key built at runtime
(`state.${value}`) must be listed in DYNAMIC with every value it can take, taken from the Python
side where the hub sends the value.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from streamhub.api.fleet import DEVICES as FLEET_DEVICES
from streamhub.auth.roles import AccountRole
from streamhub.lesson.attendance import AttendanceStatus
from streamhub.lesson.roster import Problem, RosterState
from streamhub.protocol import REPLY_KINDS, Role
from streamhub.quality import Quality, Reason
from streamhub.timetable.columns import Column as TimetableColumn
from streamhub.timetable.columns import Problem as TimetableProblem

WEB = Path(__file__).resolve().parents[2] / "web"
PAGES = ("admin", "library", "lesson", "classroom", "capsules")

# "group.name" or "group.sub.name", each part lowerCamelCase...
KEY = re.compile(r"^[a-z][a-zA-Z0-9]*(\.[a-z][a-zA-Z0-9]*)+$")
# ...except a last part that spells a value the hub (or the page's own state machine) uses, kept
# as it is spelled there so the key can be built from it. Only under these groups.
VALUE_KEY = re.compile(
    r"^(?P<group>[a-z][a-zA-Z0-9]*(\.[a-z][a-zA-Z0-9]*)*)\.[a-z][a-z0-9]*(_[a-z0-9]+)+$"
)
VALUE_GROUPS = {
    "error",
    "access.kind",
    "state",
    "roster",
    "reason",
    "problem",
    "check.name",
    "register.status",
    "timetable.column",
    "timetable.problem",
    "people.role",
    "reply",
}
# applyStrings (web/js/api.js) fills these attributes and no others.
APPLIED_ATTRIBUTES = {"aria-label", "placeholder", "title", "alt"}


def session_states() -> set[str]:
    """What LiveSession (web/js/signaling.js) reports in its "state" events."""
    text = (WEB / "js" / "signaling.js").read_text(encoding="utf-8")
    states: set[str] = set()
    for call in re.findall(r"_setState\(([^;]*?)\);", text):
        states.update(re.findall(r'"(\w+)"', call))
    assert {"connecting", "live", "reconnecting", "ended", "failed"} <= states, (
        "the pattern still matches"
    )
    return states


def _values(literal: object) -> set[str]:
    return {str(x) for x in get_args(literal)}


DEVICES = {"camera", "microphone", "both"}

# Every key a page builds at runtime: the template (each ${...} as *) -> the keys it can become.
DYNAMIC: dict[str, dict[str, set[str]]] = {
    "lesson": {
        # onState: the session's states; lessonEnded sets "ended" itself.
        "state.*": {f"state.{s}" for s in session_states()},
        "roster.*": {f"roster.{s}" for s in _values(RosterState)},
        "rosterSince.*": {"rosterSince.dropped", "rosterSince.left"},
        "problem.*": {f"problem.{p}" for p in _values(Problem)},
        "quality.*": {f"quality.{q}" for q in _values(Quality)},
        "qualityWord.*": {f"qualityWord.{q}" for q in _values(Quality)},
        "reason.*": {f"reason.{r}" for r in _values(Reason)},
        "goLive.waitFor.*": {f"goLive.waitFor.{d}" for d in DEVICES},
        "goLive.without.*": {f"goLive.without.{d}" for d in DEVICES},
        "liveWithout.*": {f"liveWithout.{d}" for d in DEVICES},
        # netcheck.js: the statuses it gives its lines, and the ways it tries.
        "check.status.*": {f"check.status.{s}" for s in ("ok", "warn", "fail", "skip")},
        "check.name.*": {f"check.name.{w}" for w in ("udp", "turn_udp", "turn_tcp", "turn_tls")},
        # lesson-answers.js: a classroom's quick replies (streamhub/protocol.py).
        "reply.*": {f"reply.{k}" for k in REPLY_KINDS},
    },
    "classroom": {
        # setBadge and the overlay: the session's states, "idle" shown as "loading", and the
        # page's own "waiting" and "no_picture".
        "state.*": {f"state.{s}" for s in session_states() | {"loading", "waiting", "no_picture"}},
        "check.*.*": {
            f"check.{kind}.{status}"
            for kind in ("camera", "microphone")
            for status in ("ready", "pending", "failed")
        },
        "reply.*": {f"reply.{k}" for k in REPLY_KINDS},
    },
    "admin": {
        "checks.status.*": {f"checks.status.{s}" for s in ("ok", "warn", "fail", "skip")},
        # LessonOut.status, or "missed" (lessonState: scheduled, its end passed).
        "status.*": {f"status.{s}" for s in ("scheduled", "missed", "live", "ended")},
        # streamhub/api/fleet.py DEVICES.
        "fleet.device.*": {f"fleet.device.{d}" for d in FLEET_DEVICES},
        # catalog/models.py WebhookDelivery.state.
        "feed.state.*": {f"feed.state.{s}" for s in ("pending", "delivered", "failed")},
        # admin.js WEEKDAYS, lower-cased.
        "series.day.*": {f"series.day.{d}" for d in ("mo", "tu", "we", "th", "fr", "sa", "su")},
        "access.kind.*": {f"access.kind.{k}" for k in ("lecturer_link", "rtmp_key", "staff")},
        # web/js/timetable.js: an import's errors (streamhub/timetable/columns.py), the kinds
        # of calendar feed (streamhub/api/calendar.py).
        "timetable.column.*": {f"timetable.column.{c}" for c in TimetableColumn},
        "timetable.problem.*": {f"timetable.problem.{p}" for p in TimetableProblem},
        "calendar.kind.*": {f"calendar.kind.{k}" for k in ("classroom", "lecturer")},
        # admin-reports.js qualityText: streamhub/lesson/term_report.py's bands.
        "reports.quality.*": {f"reports.quality.{w}" for w in ("good", "fair", "poor")},
        # streamhub/auth/roles.py AccountRole.
        "people.role.*": {f"people.role.{r}" for r in AccountRole},
    },
    "library": {
        # catalog/models.py Recording.state, and "stopped" (a recording cut short).
        "state.*": {
            f"state.{s}" for s in ("recording", "finalizing", "ready", "failed", "stopped")
        },
        # renderPlayer: every state but "ready" (which plays) and "failed" (its own key).
        "player.*": {f"player.{s}" for s in ("recording", "finalizing", "stopped")},
        "quality.*": {f"quality.{w}" for w in ("good", "fair", "poor")},
        "register.status.*": {f"register.status.{s}" for s in AttendanceStatus},
        "role.*": {f"role.{r}" for r in (str(x) for x in Role)},
    },
}
# error.<code> (showError in api.js) falls back to the problem's own title when a code has no
# string: a missing one is not shown raw. tests/web/test_js_constants.py checks the codes.
OPTIONAL_DYNAMIC = {"error.*"}
# t(...) calls whose key is not written at the call: where it comes from is checked elsewhere.
INDIRECT = {
    ("api.js", "el.dataset.i18n"),  # the data-i18n attributes, checked against the HTML
    ("api.js", "el.getAttribute(dataKey)"),  # data-i18n-<attr>, likewise
    ("api.js", "prefixKey"),  # showError's prefix: literal keys at its callers
    ("api.js", "key"),  # the t() of loadStrings itself
}
# Files that hand keys to a helper (actionButton("common.edit", ...)) or keep one in a variable:
# every string in them shaped like a key of one of the page's groups must be a key.
PASSED_AROUND = {
    ("admin.js", "textKey"),
    ("admin.js", "labelKey"),
    ("admin.js", "stateKey"),
    ("admin.js", "problem[0]"),
    ("admin.js", "series.problem[0]"),  # seriesBody(): the series form's missing field
    ("library.js", "key"),  # item("details.subject", ...)
}


def strings(page: str, lang: str) -> list[str]:
    """The keys of web/i18n/<page>.<lang>.js, in order, refusing any line that is not one string."""
    path = WEB / "i18n" / f"{page}.{lang}.js"
    text = path.read_text(encoding="utf-8")
    body = text[text.index("export default {") + len("export default {") : text.rindex("};")]
    keys: list[str] = []
    for number, line in enumerate(body.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("//"):
            continue
        match = re.fullmatch(r'"([^"]+)"\s*:\s*"(?:[^"\\]|\\.)*",?', stripped)
        assert match, f"{path.name}: line {number} of the object is not one quoted key and string"
        keys.append(match.group(1))
    return keys


def languages(page: str) -> list[str]:
    return sorted(p.name[len(page) + 1 : -len(".js")] for p in (WEB / "i18n").glob(f"{page}.*.js"))


def modules(page: str) -> list[Path]:
    """The page's own modules: its entry script and what it imports (api.js is shared)."""
    html = (WEB / f"{page}.html").read_text(encoding="utf-8")
    entries = re.findall(r'<script type="module" src="/static/js/([\w-]+\.js)"', html)
    assert entries, page
    seen: list[Path] = []
    todo = [WEB / "js" / name for name in entries]
    while todo:
        path = todo.pop()
        if path in seen or path.name == "api.js":
            continue
        seen.append(path)
        text = path.read_text(encoding="utf-8")
        todo.extend(WEB / "js" / name for name in re.findall(r'from "\./([\w-]+\.js)"', text))
    return seen


def first_argument(text: str, start: int) -> str:
    """The first argument of the call whose "(" ends at ``start``."""
    depth = 0
    i = start
    while i < len(text):
        c = text[i]
        if c in "\"'`":
            j = i + 1
            while text[j] != c:
                if c == "`" and text.startswith("${", j):
                    j = text.index("}", j)
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                return text[start:i].strip()
            depth -= 1
        elif c == "," and depth == 0:
            return text[start:i].strip()
        i += 1
    raise AssertionError("unbalanced call")


def used_keys(path: Path) -> tuple[set[str], set[str], set[str]]:
    """(literal keys, templates with * for each ${...}, indirect arguments) of t() / tr() calls."""
    text = path.read_text(encoding="utf-8")
    literal: set[str] = set()
    templates: set[str] = set()
    indirect: set[str] = set()
    for call in re.finditer(r"(?<![.\w$])(?:t|tr)\(", text):
        arg = first_argument(text, call.end())
        # The keys, not what a condition compares with: t(kind === "camera" ? "a.b" : "a.c").
        values = re.sub(r'(?:[!=]==?\s*"[^"]*")|(?:"[^"]*"\s*[!=]==?)', "", arg)
        found = re.findall(r'"([^"]*)"', re.sub(r"`[^`]*`", "", values))
        built = re.findall(r"`([^`]*)`", arg)
        literal.update(found)
        templates.update(re.sub(r"\$\{[^}]*\}", "*", b) for b in built)
        if not found and not built:
            indirect.add(arg)
    return literal, templates, indirect


@pytest.mark.parametrize("page", PAGES)
def test_every_language_has_the_same_keys_as_english(page: str) -> None:
    english = strings(page, "en")
    assert len(english) == len(set(english)), "a key appears twice"
    others = [lang for lang in languages(page) if lang != "en"]
    assert "zh-CN" in others
    for lang in others:
        keys = strings(page, lang)
        assert len(keys) == len(set(keys)), f"{lang}: a key appears twice"
        assert set(keys) == set(english), f"{lang}: {sorted(set(keys) ^ set(english))}"


@pytest.mark.parametrize("page", PAGES)
def test_every_key_is_dotted(page: str) -> None:
    wrong = []
    for key in strings(page, "en"):
        if KEY.match(key):
            continue
        value = VALUE_KEY.match(key)
        if value and value.group("group") in VALUE_GROUPS:
            continue
        wrong.append(key)
    assert wrong == []


@pytest.mark.parametrize("page", PAGES)
def test_every_key_the_html_names_exists(page: str) -> None:
    html = (WEB / f"{page}.html").read_text(encoding="utf-8")
    used = re.findall(r'data-i18n(?:-([a-z-]+))?="([^"]*)"', html)
    assert used, "the pattern still matches"
    assert {attr for attr, _ in used if attr} <= APPLIED_ATTRIBUTES
    assert sorted({key for _, key in used} - set(strings(page, "en"))) == []


@pytest.mark.parametrize("page", PAGES)
def test_every_key_the_scripts_use_exists(page: str) -> None:
    known = set(strings(page, "en"))
    literal: set[str] = set()
    templates: set[str] = set()
    paths = modules(page)
    for path in paths:
        found, built, indirect = used_keys(path)
        literal |= found
        templates |= built
        passed = {(path.name, arg) for arg in indirect} - INDIRECT
        assert not passed - PASSED_AROUND, (
            f"{path.name}: a key passed in a variable; write it at the t() call"
        )
        if passed:
            groups = {key.split(".")[0] for key in known}
            text = path.read_text(encoding="utf-8")
            literal.update(
                word
                for word in re.findall(r'"([^"\s]+)"', text)
                if KEY.match(word) and word.split(".")[0] in groups
            )
    # The staff pages use api.js's sign-in form and error display (showError, wireSignIn).
    if any("showError" in p.read_text(encoding="utf-8") for p in paths):
        found, built, _ = used_keys(WEB / "js" / "api.js")
        literal |= found
        templates |= built
    assert literal, "the pattern still matches"
    assert sorted(literal - known) == []
    declared = DYNAMIC.get(page, {})
    assert sorted(templates - set(declared) - OPTIONAL_DYNAMIC) == [], "list it in DYNAMIC"
    assert sorted(set(declared) - templates) == [], "no longer built: take it out of DYNAMIC"
    for template, keys in declared.items():
        assert sorted(keys - known) == [], template


def test_the_checks_see_what_the_live_pages_build() -> None:
    """The patterns find the runtime-built keys of the lecturer page's modules."""
    templates: set[str] = set()
    for path in modules("lesson"):
        templates |= used_keys(path)[1]
    assert {"state.*", "roster.*", "reason.*", "check.name.*"} <= templates
    assert {p.name for p in modules("lesson")} >= {
        "lesson.js",
        "lesson-grid.js",
        "health.js",
        "netcheck.js",
    }
