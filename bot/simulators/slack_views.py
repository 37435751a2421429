"""The Slack simulator's views family: trigger ids, ``views.open``/``publish``/``update``, pushes and the views."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from bot.simulators.block_kit import view_errors
from bot.simulators.slack_common import SlackError, with_ids


class ViewsApi:
    """Modals and Home tabs as state, the views methods and the queries tests make of them; mixed into
    SlackSimulator, whose ``__init__`` makes the state."""

    team_id: str
    app_id: str
    bot_id: str
    trigger_ttl: float
    views: dict[str, list[dict[str, Any]]]
    _users: dict[str, dict[str, Any]]
    _triggers: dict[str, tuple[str | None, float]]
    _rng: Any
    _random_id: Callable[..., str]

    def new_trigger_id(self, user_id: str | None = None) -> str:
        """A trigger_id, as Slack puts in a payload: good for one ``views.open`` within 3 seconds."""
        trigger = (
            f"{self._rng.randrange(10**12, 10**13)}.{self._rng.randrange(10**10, 10**11)}."
            f"{self._rng.getrandbits(128):032x}"
        )
        self._triggers[trigger] = (user_id, time.monotonic())
        return trigger

    def home(self, user_id: str) -> dict[str, Any] | None:
        """The Home tab view last published for the user, or None."""
        homes = [v for v in self.views.get(user_id, []) if v["type"] == "home"]
        return copy.deepcopy(homes[-1]) if homes else None

    def modals(self, user_id: str) -> list[dict[str, Any]]:
        """The modals opened for the user, oldest first (their latest content)."""
        return [copy.deepcopy(v) for v in self.views.get(user_id, []) if v["type"] == "modal"]

    def view(self, view_id: str) -> dict[str, Any] | None:
        """A copy of the view with that id, or None."""
        found = self._find_view(view_id)
        return copy.deepcopy(found[1]) if found else None

    def _check_view(self, view: Any) -> dict[str, Any]:
        """The view, if Slack would accept it: `invalid_blocks` or `invalid_arguments` with the reasons otherwise."""
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments")
        errors = view_errors(view)
        if any(e.startswith(("blocks", "must have at most")) for e in errors):
            raise SlackError("invalid_blocks", errors=errors)
        if errors:
            raise SlackError("invalid_arguments", response_metadata={"messages": errors})
        return view

    def _new_view(
        self,
        view: dict[str, Any],
        *,
        view_id: str | None = None,
        root: str | None = None,
        previous: str | None = None,
    ) -> dict[str, Any]:
        """The view object as Slack stores and returns it, with ids, hash and state."""
        view_id = view_id or self._random_id("V", 10).upper()
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": with_ids(copy.deepcopy(view.get("blocks", [])), self._random_id),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{self._random_id(length=8)}",
            "title": copy.deepcopy(view.get("title")),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": copy.deepcopy(view.get("close")),
            "submit": copy.deepcopy(view.get("submit")),
            "previous_view_id": previous,
            "root_view_id": root or view_id,
            "app_id": self.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def _find_view(
        self, view_id: str | None = None, external_id: str | None = None
    ) -> tuple[str, dict[str, Any]] | None:
        """(user id, view) of the view with that id or external id, or None."""
        for user_id, views in self.views.items():
            for view in views:
                if (view_id and view["id"] == view_id) or (
                    external_id and view["external_id"] == external_id
                ):
                    return user_id, view
        return None

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        """`views.open`: open a modal with a live trigger_id, used once within the trigger's lifetime."""
        trigger_id = params.get("trigger_id")
        if not trigger_id:
            raise SlackError("invalid_trigger_id")
        entry = self._triggers.get(str(trigger_id))
        if entry is None:
            raise SlackError("invalid_trigger_id")
        user_id, issued = entry
        if issued < 0:
            raise SlackError("exchanged_trigger_id")
        if time.monotonic() - issued > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        view = self._check_view(params.get("view"))
        if view["type"] != "modal":
            raise SlackError("invalid_arguments")
        self._triggers[str(trigger_id)] = (user_id, -1.0)
        record = self._new_view(view)
        self.views.setdefault(user_id or "", []).append(record)
        return {"view": copy.deepcopy(record)}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        """`views.publish`: set a user's Home tab (a stale `hash` is hash_conflict)."""
        user_id = params.get("user_id")
        if not user_id:
            raise SlackError("invalid_arguments")
        user = self._users.get(str(user_id))
        if user is None or user["deleted"]:
            raise SlackError("user_not_found")
        view = self._check_view(params.get("view"))
        if view["type"] != "home":
            raise SlackError("invalid_arguments")
        views = self.views.setdefault(str(user_id), [])
        current = next((v for v in views if v["type"] == "home"), None)
        if current is not None and params.get("hash") and params["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        record = self._new_view(view, view_id=current["id"] if current else None)
        if current is not None:
            views[views.index(current)] = record
        else:
            views.append(record)
        return {"view": copy.deepcopy(record)}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        """`views.update`: replace a view by id or external id (a stale `hash` is hash_conflict)."""
        found = self._find_view(params.get("view_id"), params.get("external_id"))
        if found is None:
            raise SlackError("not_found")
        user_id, current = found
        if params.get("hash") and params["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        view = self._check_view(params.get("view"))
        if view["type"] != current["type"]:
            raise SlackError("invalid_arguments")
        record = self.replace_view(current["id"], view)
        return {"view": record}

    def replace_view(self, view_id: str, view: dict[str, Any]) -> dict[str, Any]:
        """Replace a view's content, keeping its id (what views.update and ``response_action: update`` do)."""
        found = self._find_view(view_id)
        if found is None:
            raise KeyError(view_id)
        user_id, current = found
        record = self._new_view(
            view, view_id=current["id"], root=current["root_view_id"], previous=current["previous_view_id"]
        )
        views = self.views[user_id]
        views[views.index(current)] = record
        return copy.deepcopy(record)

    def push_view(self, user_id: str, view: dict[str, Any], *, previous: str) -> dict[str, Any]:
        """Push a modal on top of another (what ``response_action: push`` does)."""
        found = self._find_view(previous)
        root = found[1]["root_view_id"] if found else previous
        record = self._new_view(view, root=root, previous=previous)
        self.views.setdefault(user_id, []).append(record)
        return copy.deepcopy(record)
