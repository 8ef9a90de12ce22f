"""Who may do what: every rule "role R may do action A (within its communes)" as one table, and the caller.

The routes' dependencies (``api.security.require``), the layers' access decision (``layers/access.py``), the
commune-scope checks of ``data/ops`` (``data.ops.scope``) and the redaction of personal details all read
``PERMISSIONS``; tests/test_permissions.py derives the role × action matrix from it and checks every route
against it. Changing who may do something is changing one line here.

Ground floor: imports only ``data.vocab``.
"""

from __future__ import annotations

from dataclasses import dataclass

from data import vocab

ROLES: tuple[str, ...] = tuple(vocab.codes(vocab.ROLES))


@dataclass(frozen=True)
class Caller:
    """Who is calling: a signed-in user (or a trusted local tool with ``user_id`` None)."""

    user_id: int | None
    username: str
    role: str  # one of data.vocab.ROLES
    # None: province-wide. Otherwise the admin_unit ids (2025 era) the user is scoped to.
    unit_ids: frozenset[int] | None = None
    via: str = "bearer"  # how the request presented its sign-in: bearer | cookie
    # A new account or an admin's reset: until the user changes the password, the gate (api/security.py)
    # admits only the change itself, sign-out and who-am-I.
    must_change_password: bool = False

    @property
    def province_wide(self) -> bool:
        return self.unit_ids is None


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    # True: a commune-scoped caller may do it only for what lies in its own communes.
    within_communes: bool
    what: str  # for people: the 403 answer and the permissions page name it


_ALL = frozenset(ROLES)
_FIELD = frozenset({"admin", "commander", "officer"})  # who works on the ground and writes
_COMMAND = frozenset({"admin", "commander"})

PERMISSIONS: dict[str, Rule] = {
    "incident.create": Rule(_FIELD, True, "log incidents, one at a time or as an offline batch"),
    "incident.patch": Rule(_FIELD, True, "change an incident; without incident.assign and incident.edit, "
                                         "only the workflow steps of incidents assigned to oneself"),
    "incident.assign": Rule(_COMMAND, True, "take any workflow step of an incident: assign, transfer, close"),
    "incident.edit": Rule(_COMMAND, True, "edit an incident's category, severity, description or reporter"),
    "incident.read": Rule(_ALL, True, "read incidents and their history"),
    "patrol.check_in": Rule(_FIELD, True, "check in at patrol points"),
    "patrol.read": Rule(_ALL, True, "read a patrol point's visits and status"),
    "patrol.schedule": Rule(_COMMAND, True, "assign security teams and officers to patrol points with a schedule "
                                            "(every N hours or named shifts) and change or delete it"),
    "station.status": Rule(_COMMAND, True, "change a station's headquarters status"),
    "station.history": Rule(_ALL, False, "read a station's headquarters status history"),
    # Applies to whatever the caller may read at all, so its commune limit is that of the read.
    "personal.read": Rule(_FIELD, False, "read personal details: incident descriptions, reporters and assignees, "
                                         "who changed a station's status or proposed and decided a designation, "
                                         "the layers' personal properties"),
    "layer.restricted": Rule(_ALL, True, "see the restricted layers, their rows in the caller's communes"),
    "live.subscribe": Rule(_ALL, True, "follow the live stream of changes"),
    "alert.receive": Rule(_COMMAND, True, "receive the live stream's alerts of serious incidents"),
    # The roles that watch the map (not the officers on their phones); figures only, no personal details.
    "situation.read": Rule(frozenset({"admin", "commander", "planner"}), True, "see the situation panel's "
                                                                              "figures: incidents, open cases, "
                                                                              "overdue patrols, headquarters"),
    "analysis.run": Rule(frozenset({"admin", "commander", "planner"}), True, "run analyses"),
    "designation.propose": Rule(frozenset({"admin", "planner"}), True, "propose key-area designations and edit "
                                                                        "open proposals"),
    "designation.approve": Rule(_COMMAND, True, "approve, reject or revoke key-area designations"),
    "closure.manage": Rule(frozenset({"admin", "commander", "planner"}), True, "record, edit and reopen road "
                                                                                "closures"),
    "scenario.manage": Rule(frozenset({"admin", "planner"}), False, "create, run, change and delete what-if "
                                                                    "scenarios of stations and road closures"),
    "user.manage": Rule(frozenset({"admin"}), False, "manage users, today with the local CLI sitmap user"),
    "self.read": Rule(_ALL, False, "see one's own sign-in: user name, role, communes"),
    "self.password": Rule(_ALL, False, "change one's own password"),
    # Each user's own inbox; a notification of a commune outside the caller's communes (scope changed) is hidden.
    "notification.read": Rule(_ALL, True, "read one's own notifications and mark them read"),
    "notification.rules": Rule(frozenset({"admin"}), False, "manage the notification rules and their webhooks"),
    "report.read": Rule(_COMMAND, True, "download period reports (incidents, year on year, clearance, response "
                                        "times, patrols, procedures) for the caller's communes"),
    "data.import": Rule(frozenset({"admin"}), False, "import files (communes, villages, roads, stations, patrol "
                                                    "points) over HTTP, POST /imports/{kind}"),
}

# Roles that never act province-wide: a user of such a role without communes is scoped to none.
COMMUNE_ONLY_ROLES = frozenset({"officer"})

for _action, _rule in PERMISSIONS.items():
    assert _rule.roles <= _ALL, f"{_action}: roles {sorted(_rule.roles - _ALL)} are not data.vocab.ROLES"
assert COMMUNE_ONLY_ROLES <= _ALL, "COMMUNE_ONLY_ROLES must be data.vocab.ROLES"


def rule(action: str) -> Rule:
    """The rule of ``action``; an action missing from the table is a programming error (KeyError)."""
    try:
        return PERMISSIONS[action]
    except KeyError:
        raise KeyError(f"{action!r} is not an action of data/permissions.py PERMISSIONS") from None


def may(caller: Caller | None, action: str) -> bool:
    """Whether the caller's role may do ``action`` at all (nobody signed in may do nothing)."""
    return caller is not None and caller.role in rule(action).roles


def roles_for(action: str) -> tuple[str, ...]:
    """The roles that may do ``action``, in the order of data.vocab.ROLES."""
    allowed = rule(action).roles
    return tuple(r for r in ROLES if r in allowed)


def communes_for(caller: Caller, action: str) -> frozenset[int] | None:
    """The communes (2025 admin_unit ids) the caller may do ``action`` in; None: anywhere."""
    return caller.unit_ids if rule(action).within_communes else None


def always_in_communes(role: str) -> bool:
    """Whether users of ``role`` are scoped even without communes (then to none)."""
    return role in COMMUNE_ONLY_ROLES
